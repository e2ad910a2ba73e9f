"""Confusion matrices and the standard (default-mode) scores derived from them.

One dataset-level confusion matrix is the only state the set-level scores need, which is why
the trainer's meter can accumulate batches without keeping masks in memory.
Convention everywhere: rows = ground truth, columns = prediction.
"""

from __future__ import annotations

import numpy as np

from ._inputs import IGNORE_INDEX


def confusion_matrix(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; ground-truth ignore pixels are left out."""
    keep = true != IGNORE_INDEX
    index = true[keep].ravel() * num_classes + pred[keep].ravel()
    counts = np.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _tp_fp_fn(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    return tp, fp, fn


def _ratio_or_nan(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den with NaN where den == 0 (a class absent from both prediction and truth)."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_iou(cm: np.ndarray) -> np.ndarray:
    """IoU = TP / (TP + FP + FN) per class, NaN for classes absent from both."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _ratio_or_nan(tp, tp + fp + fn)


def per_class_dice(cm: np.ndarray) -> np.ndarray:
    """Dice = 2TP / (2TP + FP + FN) per class, NaN for classes absent from both."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _ratio_or_nan(2 * tp, 2 * tp + fp + fn)


def nan_mean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (without a RuntimeWarning) when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def overall_accuracy(cm: np.ndarray) -> float:
    """Fraction of samples on the diagonal; NaN for an empty matrix."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def macro_f1(cm: np.ndarray) -> float:
    """Macro F1 over classes present in truth or prediction (sklearn's default `labels`).

    For such a class 2TP + FP + FN > 0, so F1 = 2TP / (2TP + FP + FN) is always defined and
    equals sklearn's 2PR / (P + R) with zero_division=0.
    """
    tp, fp, fn = _tp_fp_fn(cm)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    if not present.any():
        return float("nan")
    f1 = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
    return float(f1.mean())
