"""SegActMeter accumulation equals evaluate_predictions; input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from endoarss.errors import EndoarssError
from endoarss.metrics import MetricInputError, SegActMeter, evaluate_predictions


def _random_set(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Blocky masks (upsampled 3x) so classes form regions with real boundaries.
    true = rng.integers(0, 5, size=(6, 4, 4)).repeat(3, axis=1).repeat(3, axis=2)
    pred = true.copy()
    flip = rng.random(true.shape) < 0.2
    pred[flip] = rng.integers(0, 5, size=int(flip.sum()))
    true[rng.random(true.shape) < 0.05] = 255
    act_true = rng.integers(0, 3, size=6)
    act_pred = np.where(rng.random(6) < 0.5, act_true, rng.integers(0, 3, size=6))
    return pred, true, act_pred, act_true


def _same(a: object, b: object) -> bool:
    """Exact equality that treats NaN == NaN, through nested lists."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("compat", [False, True])
def test_meter_batches_equal_functional(compat: bool) -> None:
    pred, true, act_pred, act_true = _random_set(0)
    meter = SegActMeter(5, 3, compat=compat)
    meter.update(pred[:1], true[:1], act_pred[:1], act_true[:1])  # leftover from a previous epoch
    meter.reset()
    for lo, hi in [(0, 2), (2, 5), (5, 6)]:
        meter.update(pred[lo:hi], true[lo:hi], act_pred[lo:hi], act_true[lo:hi])
    batched = meter.compute()
    whole = evaluate_predictions(list(pred), list(true), act_pred, act_true, 5, 3, compat=compat)
    assert batched.keys() == whole.keys()
    for key in whole:
        assert _same(batched[key], whole[key]), key
    assert sum(map(sum, whole["confusion_activity"])) == 6
    assert 0.0 <= whole["miou"] <= 1.0
    if not compat:
        assert whole["hd"] >= whole["hd95"] >= 0.0


def test_meter_single_task() -> None:
    meter = SegActMeter(2, 3)
    meter.update(None, None, np.array([0, 1]), np.array([0, 2]))
    out = meter.compute()
    assert out["ac"] == 0.5
    assert math.isnan(out["miou"]) and math.isnan(out["ssim"])
    seg_only = SegActMeter(2, 3, compat=True)
    seg_only.update(np.zeros((1, 3, 3), dtype=np.int64), np.zeros((1, 3, 3), dtype=np.int64))
    out = seg_only.compute()
    assert math.isnan(out["ac"]) and math.isnan(out["f1"])
    # All background predicted and true: class 0 IoU = 9/9.001, class 1 scores 0 -> mean over 2.
    assert out["miou"] == pytest.approx((9 / 9.001) / 2)


def test_invalid_inputs_name_the_value() -> None:
    gt = np.zeros((3, 3), dtype=np.int64)
    with pytest.raises(MetricInputError, match="class id 4"):
        evaluate_predictions([np.full((3, 3), 4)], [gt], [], [], 4, 2)
    with pytest.raises(MetricInputError, match="class id 254"):
        evaluate_predictions([gt], [np.full((3, 3), 254)], [], [], 4, 2)
    with pytest.raises(MetricInputError, match="dtype"):
        evaluate_predictions([gt.astype(float)], [gt], [], [], 4, 2)
    with pytest.raises(MetricInputError, match="shape"):
        evaluate_predictions([gt], [np.zeros((3, 4), dtype=np.int64)], [], [], 4, 2)
    with pytest.raises(MetricInputError, match="class id 3"):
        evaluate_predictions([], [], [3], [0], 4, 3)
    assert issubclass(MetricInputError, EndoarssError)  # the CLI's user_errors() catches it
