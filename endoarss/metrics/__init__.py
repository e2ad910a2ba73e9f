"""Evaluation metrics for activity recognition and segmentation (docs/model.md, "Metrics").

Two modes; every reported number must say which one produced it.

Standard (default), over the whole evaluation set at label resolution:

- `ac`: overall accuracy (fraction);
- `f1`: macro F1 over classes in ground truth or prediction (sklearn's default labels);
- `miou` / `dice`: nan-mean over classes (background included) of IoU / Dice from ONE dataset
  confusion matrix, classes absent from both skipped; `miou_fg` / `dice_fg` without class 0;
- `hd` / `hd95` (pixels): symmetric Hausdorff distance / pooled 95th percentile (medpy) between
  class boundaries (mask minus its 4-connected cross erosion, image edge = boundary), mean over (image, foreground
  class) pairs present in both masks; `hd_skipped` counts pairs present in only one mask;
- `ssim`: skimage SSIM of pred vs GT class maps, data_range = num_classes - 1, mean over images.

Compat (`compat=True`, the paper's released code; see `compat.py` for its quirks):

- `ac`: the release's "Acc" = mean over ALL classes of TP / (TP + FP + 1e-8) (its one 1e-8 ratio);
  `ac_overall`: overall accuracy;
- `f1`: mean over ALL classes of 2PR / (P + R + 1e-3), P and R with +1e-3 denominators;
- `miou` / `dice`: mean over ALL classes incl. background of TP / (TP + FP + FN + 1e-3) /
  2TP / (2TP + FP + FN + 1e-3) (a class absent from both scores 0);
- `hd`: per image max of both scipy `directed_hausdorff` on the raw maps (each row is a point,
  so no unit), mean over images;
- `ssim`: SSIM on uint8 maps, data_range = pred.max() - pred.min(); images with range 0 dropped.

Both modes also return `per_class_iou`, `per_class_dice` (lists; NaN for skipped classes in
standard mode) and `confusion_activity` (rows = truth, columns = prediction).

Ignore index: ground-truth pixels equal to 255 are left out of the confusion matrix; for HD and
SSIM they take the prediction's value (they neither add error nor a boundary of their own).
A metric with nothing to average (no activities, no valid HD pair, ...) is NaN.
Images smaller than SSIM's 7x7 window use the largest odd window that fits (>= 3).
"""

from ._inputs import IGNORE_INDEX, MetricInputError
from .boundary import boundary, hausdorff_pair
from .meter import SegActMeter, evaluate_predictions

__all__ = [
    "IGNORE_INDEX",
    "MetricInputError",
    "SegActMeter",
    "boundary",
    "evaluate_predictions",
    "hausdorff_pair",
]
