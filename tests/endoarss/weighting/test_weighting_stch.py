"""STCH: warm-up epochs, nadir accumulation at epoch == W, normalised logsumexp after."""

from __future__ import annotations

import numpy as np
import pytest
from weighting_toy import STEPS, Hand, Toy, hand, make_toy

from endoarss.weighting import WeightingStateError, build_weighting


def _check(weights: np.ndarray, toy: Toy, ref: Hand, expected_weights: np.ndarray) -> None:
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-10)
    np.testing.assert_allclose(toy.shared_grad(), expected_weights @ ref.G, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(toy.own_grad(), expected_weights @ ref.own, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mu", [1.0, 0.5])
def test_stch_warmup_nadir_then_smooth_tchebycheff(mu: float) -> None:
    weighting = build_weighting("stch", 2, mu=mu, warmup_epoch=1)
    # (values, epoch): one warm-up step, two steps at epoch W = 1 (nadir), two steps after.
    schedule = [(STEPS[0], 0), (STEPS[1], 1), (STEPS[2], 1), (STEPS[3], 2), (STEPS[0], 3)]
    nadir_losses = [hand(STEPS[1]).losses, hand(STEPS[2]).losses]
    nadir = (nadir_losses[0] + nadir_losses[1]) / 2
    for values, epoch in schedule:
        toy, ref = make_toy(values), hand(values)
        weights = weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=epoch).numpy()
        L = ref.losses
        if epoch <= 1:
            # d/dL sum log(L + 1e-20)
            expected = 1.0 / (L + 1e-20)
        else:
            # loss = 2 mu logsumexp((l - max l) / mu), l = log(L / n + 1e-20):
            # d loss / d L_t = 2 softmax(l / mu)_t * (1 / n_t) / (L_t / n_t + 1e-20)
            logs = np.log(L / nadir + 1e-20)
            soft = np.exp((logs - logs.max()) / mu) / np.exp((logs - logs.max()) / mu).sum()
            expected = 2 * soft / nadir / (L / nadir + 1e-20)
        _check(weights, toy, ref, expected)
    np.testing.assert_allclose(weighting.nadir.numpy(), nadir, rtol=1e-12)
    assert weighting.loss_count == 2


def test_stch_after_warmup_loss_value() -> None:
    # The gradient is that of T * mu * logsumexp: compare a finite difference of the hand loss.
    weighting = build_weighting("stch", 2, warmup_epoch=0)
    toy0 = make_toy(STEPS[1])
    weighting.backward(toy0.losses(), toy0.shared(), toy0.tasks(), epoch=0)
    nadir = hand(STEPS[1]).losses
    toy = make_toy(STEPS[2])
    weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=1)

    def scalar(s: float) -> float:
        values = dict(STEPS[2], s=s)
        logs = np.log(hand(values).losses / nadir + 1e-20)
        return 2 * np.log(np.exp(logs).sum())

    h = 1e-6
    fd = (scalar(STEPS[2]["s"] + h) - scalar(STEPS[2]["s"] - h)) / (2 * h)
    np.testing.assert_allclose(float(toy.s.grad), fd, rtol=1e-6)


def test_stch_defaults_and_past_warmup_without_state_raises() -> None:
    weighting = build_weighting("stch", 2)
    assert (weighting.mu, weighting.warmup_epoch) == (1.0, 4)
    toy = make_toy(STEPS[0])
    with pytest.raises(WeightingStateError, match="warm-up"):
        weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=5)
