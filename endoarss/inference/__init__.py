"""Using a trained RUN folder: evaluation on a built dataset and prediction on images."""
