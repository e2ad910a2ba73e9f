"""Accumulating meter and the functional entry point `evaluate_predictions`.

The meter keeps only confusion matrices and per-image sums/counts (HD and SSIM are means over
images or (image, class) pairs), so evaluating a whole test set needs no stored masks.
`evaluate_predictions` feeds the same meter image by image, so both give identical dicts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import compat as rel
from ._inputs import IGNORE_INDEX, MetricInputError, as_int_array, check_range, fill_ignored
from .boundary import image_hausdorff
from .confusion import confusion_matrix, macro_f1, nan_mean, overall_accuracy, per_class_dice, per_class_iou
from .similarity import ssim_standard


def _mean(total: float, count: int) -> float:
    return total / count if count else float("nan")


class SegActMeter:
    """Accumulate segmentation + activity predictions batch by batch; `compute()` gives the dict.

    Masks are (B, H, W) integer class maps at label resolution (ground truth may hold 255 =
    ignore); activities are (B,) integer ids. Either task may be passed as None to skip it.
    """

    def __init__(self, num_classes: int, num_activities: int, compat: bool = False) -> None:
        if not 2 <= num_classes <= IGNORE_INDEX:
            raise MetricInputError(f"num_classes must be in [2, {IGNORE_INDEX}], got {num_classes}")
        if num_activities < 1:
            raise MetricInputError(f"num_activities must be >= 1, got {num_activities}")
        self.num_classes = num_classes
        self.num_activities = num_activities
        self.compat = compat
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far (e.g. at the start of an evaluation epoch)."""
        self.seg_cm = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.act_cm = np.zeros((self.num_activities, self.num_activities), dtype=np.int64)
        self.hd_sum = 0.0
        self.hd95_sum = 0.0
        self.hd_count = 0
        self.hd_skipped = 0
        self.ssim_sum = 0.0
        self.ssim_count = 0

    def update(
        self,
        seg_pred: np.ndarray | None,
        seg_true: np.ndarray | None,
        act_pred: np.ndarray | None = None,
        act_true: np.ndarray | None = None,
    ) -> None:
        """Add one batch. Tensors must be on the CPU (anything `np.asarray` accepts)."""
        if (seg_pred is None) != (seg_true is None):
            raise MetricInputError("seg_pred and seg_true must both be given or both be None")
        if (act_pred is None) != (act_true is None):
            raise MetricInputError("act_pred and act_true must both be given or both be None")
        if seg_pred is not None:
            preds = as_int_array(seg_pred, "seg_pred", 3)
            trues = as_int_array(seg_true, "seg_true", 3)
            if preds.shape != trues.shape:
                raise MetricInputError(f"seg_pred shape {preds.shape} != seg_true shape {trues.shape}")
            for pred, true in zip(preds, trues, strict=True):
                self._update_image(pred, true)
        if act_pred is not None:
            self._update_activities(act_pred, act_true)

    def _update_image(self, pred: np.ndarray, true: np.ndarray) -> None:
        check_range(pred, "seg_pred", self.num_classes, allow_ignore=False)
        check_range(true, "seg_true", self.num_classes, allow_ignore=True)
        self.seg_cm += confusion_matrix(true, pred, self.num_classes)
        filled = fill_ignored(pred, true)
        if self.compat:
            self.hd_sum += rel.row_hausdorff(pred, filled)
            self.hd_count += 1
            ssim = rel.release_ssim(pred, filled)
        else:
            result = image_hausdorff(pred, filled, self.num_classes)
            for hd, hd95 in result.pairs:
                self.hd_sum += hd
                self.hd95_sum += hd95
            self.hd_count += len(result.pairs)
            self.hd_skipped += result.skipped
            ssim = ssim_standard(pred, filled, self.num_classes)
        if not np.isnan(ssim):
            self.ssim_sum += ssim
            self.ssim_count += 1

    def _update_activities(self, act_pred: np.ndarray, act_true: np.ndarray | None) -> None:
        pred = as_int_array(act_pred, "act_pred", 1)
        true = as_int_array(act_true, "act_true", 1)
        if pred.shape != true.shape:
            raise MetricInputError(f"act_pred shape {pred.shape} != act_true shape {true.shape}")
        check_range(pred, "act_pred", self.num_activities, allow_ignore=False)
        check_range(true, "act_true", self.num_activities, allow_ignore=False)
        index = true * self.num_activities + pred
        counts = np.bincount(index, minlength=self.num_activities**2)
        self.act_cm += counts.reshape(self.num_activities, self.num_activities)

    def compute(self) -> dict:
        """Metric dict (keys and definitions in the package docstring / docs/model.md "Metrics")."""
        common = {"confusion_activity": self.act_cm.tolist()}
        # Nothing seen for a task (e.g. a single-task model) gives NaN, never a fake 0.
        no_act, no_seg = self.act_cm.sum() == 0, self.seg_cm.sum() == 0
        nan = float("nan")
        if self.compat:
            iou, dice = rel.iou(self.seg_cm), rel.dice(self.seg_cm)
            return {
                "ac": nan if no_act else rel.release_acc(self.act_cm),
                "ac_overall": overall_accuracy(self.act_cm),
                "f1": nan if no_act else float(rel.f1(self.act_cm).mean()),
                "miou": nan if no_seg else float(iou.mean()),
                "dice": nan if no_seg else float(dice.mean()),
                "hd": _mean(self.hd_sum, self.hd_count),
                "ssim": _mean(self.ssim_sum, self.ssim_count),
                "per_class_iou": iou.tolist(),
                "per_class_dice": dice.tolist(),
                **common,
            }
        iou, dice = per_class_iou(self.seg_cm), per_class_dice(self.seg_cm)
        return {
            "ac": overall_accuracy(self.act_cm),
            "f1": macro_f1(self.act_cm),
            "miou": nan_mean(iou),
            "miou_fg": nan_mean(iou[1:]),
            "dice": nan_mean(dice),
            "dice_fg": nan_mean(dice[1:]),
            "hd": _mean(self.hd_sum, self.hd_count),
            "hd95": _mean(self.hd95_sum, self.hd_count),
            "hd_skipped": self.hd_skipped,
            "ssim": _mean(self.ssim_sum, self.ssim_count),
            "per_class_iou": iou.tolist(),
            "per_class_dice": dice.tolist(),
            **common,
        }


def evaluate_predictions(
    seg_pred: Sequence[np.ndarray],
    seg_true: Sequence[np.ndarray],
    act_pred: np.ndarray | Sequence[int],
    act_true: np.ndarray | Sequence[int],
    num_classes: int,
    num_activities: int,
    compat: bool = False,
) -> dict:
    """Score a whole evaluation set at once (masks may differ in size between images)."""
    if len(seg_pred) != len(seg_true):
        raise MetricInputError(f"{len(seg_pred)} predicted masks but {len(seg_true)} ground-truth masks")
    meter = SegActMeter(num_classes, num_activities, compat=compat)
    for index, (pred, true) in enumerate(zip(seg_pred, seg_true, strict=True)):
        pred_arr, true_arr = np.asarray(pred), np.asarray(true)
        if pred_arr.shape != true_arr.shape:
            raise MetricInputError(
                f"mask {index}: prediction shape {pred_arr.shape} != ground-truth shape {true_arr.shape}"
            )
        meter.update(pred_arr[None], true_arr[None])
    meter.update(None, None, act_pred, act_true)
    return meter.compute()
