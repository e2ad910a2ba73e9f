"""The paper's released evaluation (`compat=True`), reproduced so numbers compare with its tables.

Source of truth: the release's `LibMTL/eva.py` Evaluator and `Trainer.mtl_test`. Its quirks are
kept on purpose (they are what the published numbers mean):
- every other ratio adds 1e-3 to the denominator, so a class absent from both masks scores 0, and the
  means run over ALL declared classes including background;
- the printed classification "Acc" is `Pixel_Accuracy_Class().mean()`, i.e. the macro mean of
  diag / (column sum + 1e-8): the release's one ratio with 1e-8 instead of 1e-3 (docs/model.md);
- "HD" is scipy's `directed_hausdorff` on the raw HxW class-index maps, treating each image row
  as one point in W-dimensional space: it is not a pixel distance;
- SSIM uses `data_range = pred.max() - pred.min()`; when that is 0 the release's value is
  NaN or numerically meaningless, and it dropped NaNs, so such images are always dropped here.
Known deviation: `mtl_test` added every image to the segmentation confusion matrix twice; with
the 1e-3 terms that only changes scores by < 1e-3 / (pixel count), so it is not repeated.
"""

from __future__ import annotations

import numpy as np

from .similarity import ssim_map_pair

EPS = 1e-3
# The release's Pixel_Accuracy_Class adds 1e-8, not 1e-3 (docs/model.md "Metrics"): with few
# predictions per class the two differ in the 4th decimal, which is what its tables print.
ACC_EPS = 1e-8


def _tp_fp_fn(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


def precision(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + 1e-3) per class."""
    tp, fp, _ = _tp_fp_fn(cm)
    return tp / (tp + fp + EPS)


def recall(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FN + 1e-3) per class."""
    tp, _, fn = _tp_fp_fn(cm)
    return tp / (tp + fn + EPS)


def f1(cm: np.ndarray) -> np.ndarray:
    """2PR / (P + R + 1e-3) per class."""
    p, r = precision(cm), recall(cm)
    return 2 * p * r / (p + r + EPS)


def iou(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN + 1e-3) per class."""
    tp, fp, fn = _tp_fp_fn(cm)
    return tp / (tp + fp + fn + EPS)


def dice(cm: np.ndarray) -> np.ndarray:
    """2TP / (2TP + FP + FN + 1e-3) per class."""
    tp, fp, fn = _tp_fp_fn(cm)
    return 2 * tp / (2 * tp + fp + fn + EPS)


def release_acc(cm: np.ndarray) -> float:
    """The release's printed "Acc": mean over all classes of TP / (TP + FP + 1e-8)."""
    tp = np.diag(cm).astype(np.float64)
    return float(np.mean(tp / (cm.sum(axis=0) + ACC_EPS)))


def row_hausdorff(pred: np.ndarray, true: np.ndarray) -> float:
    """max(directed_hausdorff(pred, gt), directed_hausdorff(gt, pred)) over image rows."""
    from scipy.spatial.distance import directed_hausdorff

    a, b = pred.astype(np.float64), true.astype(np.float64)
    return float(max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0]))


def release_ssim(pred: np.ndarray, true: np.ndarray) -> float:
    """SSIM on uint8 maps with data_range = pred range; NaN (to be dropped) if that range is 0."""
    data_range = int(pred.max()) - int(pred.min())
    if data_range == 0:
        return float("nan")
    return ssim_map_pair(true.astype(np.uint8), pred.astype(np.uint8), float(data_range))
