"""Reading a built dataset into PyTorch: records, decoding, augmentation, and the decoded-sample cache."""
