"""Per-image metrics: boundaries, HD/HD95, SSIM (standard and compat), ignore pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from endoarss.metrics import boundary, evaluate_predictions

NO_ACT: list[int] = []


def test_boundary_counts_image_edge_and_skips_interior() -> None:
    full = np.ones((4, 4), dtype=bool)
    # Whole-frame mask: the image edge is boundary -> outer ring of 16 - 4 = 12 pixels.
    edge = boundary(full)
    assert edge.sum() == 12
    assert not edge[1:3, 1:3].any()
    square = np.zeros((5, 5), dtype=bool)
    square[1:4, 1:4] = True
    # 3x3 square: only its centre survives the cross erosion -> ring of 8.
    assert boundary(square).sum() == 8
    assert not boundary(square)[2, 2]


def test_boundary_uses_the_4_connected_cross() -> None:
    # A plus of 5 pixels: its centre has all 4 side neighbours inside, so the cross erosion
    # keeps it (boundary = the 4 arms); a 3x3 square erosion would drop it (boundary 5).
    plus = np.zeros((5, 5), dtype=bool)
    plus[2, 1:4] = plus[1:4, 2] = True
    edge = boundary(plus)
    assert edge.sum() == 4 and not edge[2, 2]


def test_hd_of_diamond_vs_its_ring_is_zero_with_cross_erosion() -> None:
    # GT: filled diamond |dr| + |dc| <= 2 around (3, 3) in 7x7 (13 px). Cross erosion keeps the
    # centre and the 4 pixels at distance 1 (their side neighbours are all inside), so the GT
    # boundary is exactly the 8-pixel outer ring = the prediction (a hollow ring, all boundary):
    # HD = HD95 = 0. A square erosion would add the inner ring at distance 1 from the outer one
    # (HD 1, HD95 1).
    rr, cc = np.mgrid[0:7, 0:7]
    dist = np.abs(rr - 3) + np.abs(cc - 3)
    gt = (dist <= 2).astype(np.int64)
    pred = (dist == 2).astype(np.int64)
    out = evaluate_predictions([pred], [gt], NO_ACT, NO_ACT, 2, 2)
    assert out["hd"] == 0.0 and out["hd95"] == 0.0 and out["hd_skipped"] == 0


def test_hausdorff_hand_distances_and_skips() -> None:
    # Image 1 (6x6): GT class 1 = pixel (0,0), pred class 1 = pixel (3,4): distance
    # sqrt(3^2 + 4^2) = 5 both ways -> HD 5, HD95 5.  Class 2 only in the prediction -> skipped.
    gt1 = np.zeros((6, 6), dtype=np.int64)
    pr1 = np.zeros((6, 6), dtype=np.int64)
    gt1[0, 0] = 1
    pr1[3, 4] = 1
    pr1[5, 5] = 2
    # Image 2 (4x4): GT class 1 = row 0, cols 0-2 (a 1-px line: all boundary), pred = (0,0).
    # GT->pred: 0, 1, 2; pred->GT: 0.  Pooled sorted [0, 0, 1, 2]: HD 2,
    # 95th percentile at rank 0.95 * 3 = 2.85 -> 1 + 0.85 * (2 - 1) = 1.85.
    gt2 = np.zeros((4, 4), dtype=np.int64)
    pr2 = np.zeros((4, 4), dtype=np.int64)
    gt2[0, 0:3] = 1
    pr2[0, 0] = 1
    out = evaluate_predictions([pr1, pr2], [gt1, gt2], NO_ACT, NO_ACT, 3, 2)
    assert out["hd"] == pytest.approx((5 + 2) / 2)
    assert out["hd95"] == pytest.approx((5 + 1.85) / 2)
    assert out["hd_skipped"] == 1


def test_empty_prediction_has_no_hd_pair() -> None:
    gt = np.zeros((5, 5), dtype=np.int64)
    gt[1:3, 1:3] = 1
    pred = np.zeros((5, 5), dtype=np.int64)
    out = evaluate_predictions([pred], [gt], NO_ACT, NO_ACT, 2, 2)
    assert math.isnan(out["hd"]) and math.isnan(out["hd95"])
    assert out["hd_skipped"] == 1
    # IoU: class 0 TP 21 FN 0 FP 4 -> 21/25; class 1 TP 0 FN 4 -> 0.
    assert out["per_class_iou"] == pytest.approx([21 / 25, 0.0])
    assert out["miou_fg"] == 0.0
    assert math.isnan(out["ac"])  # no activities given


def test_ignore_pixels_excluded_from_confusion_and_filled_for_hd() -> None:
    # GT (4x5): class 1 at (0,0); (3,4) is 255.  Pred: class 1 at (3,4) only.
    gt = np.zeros((4, 5), dtype=np.int64)
    gt[0, 0] = 1
    gt[3, 4] = 255
    pred = np.zeros((4, 5), dtype=np.int64)
    pred[3, 4] = 1
    out = evaluate_predictions([pred], [gt], NO_ACT, NO_ACT, 2, 2)
    # Confusion without the ignore pixel: gt0->0 = 18, gt1->0 = 1 (pred's class 1 pixel is ignored,
    # so no FP): IoU0 = 18/19, IoU1 = 0/1.
    assert out["per_class_iou"] == pytest.approx([18 / 19, 0.0])
    # For HD the ignore pixel takes the prediction's class 1: GT class 1 = {(0,0), (3,4)},
    # pred = {(3,4)}.  GT->pred: 5, 0; pred->GT: 0.  Pooled [0, 0, 5]: HD 5,
    # 95th percentile at rank 1.9 -> 0 + 0.9 * 5 = 4.5.
    assert out["hd"] == pytest.approx(5.0)
    assert out["hd95"] == pytest.approx(4.5)
    assert out["hd_skipped"] == 0


def _ssim_single_window(ux: float, uy: float, vx: float, vy: float, vxy: float, data_range: float) -> float:
    """SSIM of a 7x7 image: one full window at the centre, the only pixel left after cropping."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def test_ssim_standard_and_compat_by_hand() -> None:
    # 7x7, 4 classes.  Image 1: pred class 1 on rows 0-1 (14 px), GT class 1 on row 0 (7 px).
    # Means 14/49 = 2/7 and 7/49 = 1/7; sample (co)variances with factor 49/48:
    #   vx = (14/49 - 4/49) * 49/48 = 10/48, vy = (7/49 - 1/49) * 49/48 = 6/48,
    #   vxy = (7/49 - 2/49) * 49/48 = 5/48.
    pr1 = np.zeros((7, 7), dtype=np.int64)
    gt1 = np.zeros((7, 7), dtype=np.int64)
    pr1[0:2] = 1
    gt1[0] = 1
    # Image 2: empty prediction (constant 0), same GT: vx = vxy = 0, ux = 0.
    pr2 = np.zeros((7, 7), dtype=np.int64)
    gt2 = gt1.copy()
    img1 = (2 / 7, 1 / 7, 10 / 48, 6 / 48, 5 / 48)
    img2 = (0.0, 1 / 7, 0.0, 6 / 48, 0.0)
    standard = evaluate_predictions([pr1, pr2], [gt1, gt2], NO_ACT, NO_ACT, 4, 2)
    # Standard: data_range = num_classes - 1 = 3 for both images.
    expected = (_ssim_single_window(*img1, 3.0) + _ssim_single_window(*img2, 3.0)) / 2
    assert standard["ssim"] == pytest.approx(expected, rel=1e-6)
    # (0.08163 + 9e-4)(0.20833 + 8.1e-3) / ((0.10204 + 9e-4)(0.33333 + 8.1e-3)) = 0.01786 / 0.03515
    assert _ssim_single_window(*img1, 3.0) == pytest.approx(0.5082, abs=1e-3)
    compat = evaluate_predictions([pr1, pr2], [gt1, gt2], NO_ACT, NO_ACT, 4, 2, compat=True)
    # Compat: data_range = pred range = 1 for image 1; image 2 has range 0 and is dropped.
    assert compat["ssim"] == pytest.approx(_ssim_single_window(*img1, 1.0), rel=1e-6)
    # (0.08163 + 1e-4)(0.20833 + 9e-4) / ((0.10204 + 1e-4)(0.33333 + 9e-4)) = 0.01710 / 0.03414
    assert compat["ssim"] == pytest.approx(0.5009, abs=1e-3)


def test_compat_ssim_nan_when_every_image_dropped() -> None:
    gt = np.zeros((7, 7), dtype=np.int64)
    gt[0] = 1
    out = evaluate_predictions([np.zeros((7, 7), dtype=np.int64)], [gt], NO_ACT, NO_ACT, 2, 2, compat=True)
    assert math.isnan(out["ssim"])


def test_ssim_small_images_use_largest_odd_window() -> None:
    from skimage.metrics import structural_similarity

    gt = np.array([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    pred = np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0]])
    out = evaluate_predictions([pred], [gt], NO_ACT, NO_ACT, 3, 2)
    # 4x4 is below the 7x7 default: the window shrinks to 3 (largest odd side <= 4).
    direct = structural_similarity(pred.astype(float), gt.astype(float), data_range=2.0, win_size=3)
    assert out["ssim"] == pytest.approx(direct)
    # 2x2 fits no window (< 3): no SSIM at all rather than a made-up value.
    tiny = evaluate_predictions([pred[:2, :2]], [gt[:2, :2]], NO_ACT, NO_ACT, 3, 2)
    assert math.isnan(tiny["ssim"])
