"""Dataset-level scores (confusion-matrix metrics, activity metrics) on hand-computed data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from endoarss.metrics import evaluate_predictions

# Image A: GT class 1 is a 2x2 square; the prediction misses (2,1) and adds (1,3).
GT_A = np.array([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
PR_A = np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0]])
# Image B: GT class 2 top-left 2x2, one ignore pixel; the prediction is empty (all background).
GT_B = np.array([[2, 2, 0, 0], [2, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 255]])
PR_B = np.zeros((4, 4), dtype=np.int64)
# Four declared classes; class 3 appears in neither prediction nor ground truth.
NUM_CLASSES = 4
# Activities: 4 declared, class 3 never used.  Confusion (rows truth, cols pred):
#   t0: [1, 1, 0, 0]   t1: [0, 2, 0, 0]   t2: [1, 0, 0, 0]   t3: [0, 0, 0, 0]
ACT_TRUE = np.array([0, 0, 1, 1, 2])
ACT_PRED = np.array([0, 1, 1, 1, 0])


def _evaluate(compat: bool) -> dict:
    return evaluate_predictions([PR_A, PR_B], [GT_A, GT_B], ACT_PRED, ACT_TRUE, NUM_CLASSES, 4, compat=compat)


# Segmentation confusion over both images (the 255 pixel is excluded: 31 counted pixels):
#   gt0 -> pred0: A 11 + B 11 = 22, gt0 -> pred1: 1 (A's (1,3))
#   gt1 -> pred1: 3, gt1 -> pred0: 1 (A's (2,1))
#   gt2 -> pred0: 4 (B's square, empty prediction)
# class 0: TP 22, FP 1 + 4 = 5, FN 1  -> IoU 22/28, Dice 44/50
# class 1: TP 3,  FP 1,        FN 1  -> IoU 3/5,   Dice 6/8
# class 2: TP 0,  FP 0,        FN 4  -> IoU 0,     Dice 0
# class 3: absent from both         -> skipped (NaN) in standard mode, 0 in compat mode


def test_standard_segmentation_scores() -> None:
    out = _evaluate(compat=False)
    iou = [22 / 28, 3 / 5, 0.0]
    dice = [44 / 50, 6 / 8, 0.0]
    assert out["per_class_iou"][:3] == pytest.approx(iou)
    assert math.isnan(out["per_class_iou"][3])
    assert out["per_class_dice"][:3] == pytest.approx(dice)
    assert math.isnan(out["per_class_dice"][3])
    assert out["miou"] == pytest.approx(sum(iou) / 3)  # nan-mean: class 3 skipped
    assert out["miou_fg"] == pytest.approx((3 / 5 + 0) / 2)
    assert out["dice"] == pytest.approx((0.88 + 0.75 + 0) / 3)
    assert out["dice_fg"] == pytest.approx(0.375)


def test_standard_activity_scores() -> None:
    out = _evaluate(compat=False)
    assert out["ac"] == pytest.approx(3 / 5)
    # Labels {0, 1, 2} (class 3 in neither): F1 = 2TP / (2TP + FP + FN)
    # c0: TP1 FP1 FN1 -> 2/4; c1: TP2 FP1 FN0 -> 4/5; c2: TP0 FN1 -> 0.
    assert out["f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert out["confusion_activity"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_standard_boundary_keys_on_dataset() -> None:
    out = _evaluate(compat=False)
    # A, class 1: both masks have no 3x3 interior, so every pixel is boundary.
    # GT->pred distances (1,1)0 (1,2)0 (2,1)1 (2,2)0; pred->GT (1,1)0 (1,2)0 (1,3)1 (2,2)0.
    # HD = 1; pooled sorted [0]*6 + [1, 1], 95th percentile at rank 6.65 -> 1.
    # B, class 2: only in GT (empty prediction) -> skipped and counted.
    assert out["hd"] == pytest.approx(1.0)
    assert out["hd95"] == pytest.approx(1.0)
    assert out["hd_skipped"] == 1


def test_macro_f1_uses_labels_in_truth_or_prediction() -> None:
    # truth [0,0,1], pred [0,2,1]: label 2 appears only in the prediction and must count.
    # c0: TP1 FN1 -> 2/3; c1: TP1 -> 1; c2: FP1 -> 0.  Macro over {0,1,2} = 5/9
    # (truth-only labels would give 5/6, all 4 declared classes 5/12).
    out = evaluate_predictions([], [], [0, 2, 1], [0, 0, 1], NUM_CLASSES, 4)
    assert out["f1"] == pytest.approx(5 / 9)
    assert out["ac"] == pytest.approx(2 / 3)
    assert math.isnan(out["miou"])  # no masks given -> NaN, not 0


def test_compat_segmentation_scores() -> None:
    out = _evaluate(compat=True)
    iou = [22 / 28.001, 3 / 5.001, 0.0, 0.0]  # TP / (TP + FP + FN + 1e-3)
    dice = [44 / 50.001, 6 / 8.001, 0.0, 0.0]  # 2TP / (2TP + FP + FN + 1e-3)
    assert out["per_class_iou"] == pytest.approx(iou, rel=1e-12)
    assert out["per_class_dice"] == pytest.approx(dice, rel=1e-12)
    assert out["miou"] == pytest.approx(sum(iou) / 4, rel=1e-12)  # absent class 3 scores 0
    assert out["dice"] == pytest.approx(sum(dice) / 4, rel=1e-12)
    assert set(out) == {
        "ac",
        "ac_overall",
        "f1",
        "miou",
        "dice",
        "hd",
        "ssim",
        "per_class_iou",
        "per_class_dice",
        "confusion_activity",
    }


def test_compat_activity_acc_is_macro_precision() -> None:
    out = _evaluate(compat=True)
    # Column sums (predicted counts) [2, 3, 0, 0]; compat Acc = mean_c TP / (colsum + 1e-8), the
    # release's Pixel_Accuracy_Class: (1/2 + 2/3) / 4 = 7/24 = 0.291667 (with 1e-3 it would be 0.291549).
    assert out["ac"] == pytest.approx((1 / (2 + 1e-8) + 2 / (3 + 1e-8) + 0 + 0) / 4, rel=1e-12)
    assert out["ac"] == pytest.approx(7 / 24, abs=1e-8)  # != overall accuracy 0.6
    assert abs(out["ac"] - (1 / 2.001 + 2 / 3.001) / 4) > 1e-4
    assert out["ac_overall"] == pytest.approx(0.6)
    # P = TP / (colsum + 1e-3), R = TP / (rowsum + 1e-3), rowsums [2, 2, 1, 0].
    p0, r0 = 1 / 2.001, 1 / 2.001
    p1, r1 = 2 / 3.001, 2 / 2.001
    f1 = [2 * p0 * r0 / (p0 + r0 + 1e-3), 2 * p1 * r1 / (p1 + r1 + 1e-3), 0.0, 0.0]
    assert out["f1"] == pytest.approx(sum(f1) / 4, rel=1e-12)


def test_compat_row_hausdorff_on_dataset() -> None:
    out = _evaluate(compat=True)
    # Each row is a point.  A: GT rows 0,(0110),(0110),0; pred rows 0,(0111),(0010),0.
    #   every GT row is within 1 of a pred row and vice versa -> 1.
    # B (ignore pixel takes pred's 0): GT rows (2200),(2200),0,0; pred all 0.
    #   GT->pred: |(2,2,0,0)| = sqrt(8); pred->GT: 0 (zero rows exist) -> sqrt(8).
    assert out["hd"] == pytest.approx((1 + math.sqrt(8)) / 2)
