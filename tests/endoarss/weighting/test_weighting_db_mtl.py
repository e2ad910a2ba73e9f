"""DB-MTL against a numpy re-derivation of docs/model.md's formulas over several steps (EMA state)."""

from __future__ import annotations

import numpy as np
import pytest
from weighting_toy import STEPS, ZERO, hand, make_toy

from endoarss.weighting import build_weighting


@pytest.mark.parametrize(("beta", "beta_sigma"), [(0.9, 0.0), (0.8, 0.5)])
def test_db_mtl_three_steps_match_hand_derivation(beta: float, beta_sigma: float) -> None:
    weighting = build_weighting("db_mtl", 2, beta=beta, beta_sigma=beta_sigma)
    buffer = np.zeros((2, 6))
    for k, values in enumerate(STEPS[:3], start=1):
        toy, ref = make_toy(values), hand(values)
        # d log(L + 1e-8) = dL / (L + 1e-8)
        scale = 1.0 / (ref.losses + 1e-8)
        g = ref.G * scale[:, None]
        beta_k = beta * k**-beta_sigma
        buffer = beta_k * buffer + (1 - beta_k) * g
        norms = np.sqrt((buffer**2).sum(1))
        alpha = norms.max() / (norms + 1e-8)

        weights = weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)

        np.testing.assert_allclose(weights.numpy(), alpha, rtol=1e-10)
        np.testing.assert_allclose(toy.shared_grad(), alpha @ buffer, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(toy.own_grad(), (ref.own * scale[:, None]).sum(0), rtol=1e-10)
        np.testing.assert_allclose(weighting.grad_buffer.numpy(), buffer, rtol=1e-10, atol=1e-12)
    assert weighting.step == 3


def test_db_mtl_first_step_is_not_bias_corrected() -> None:
    # With beta = 0.9 the first EMA is 0.1 g, and alpha equalises the two norms.
    toy, ref = make_toy(STEPS[0]), hand(STEPS[0])
    weights = build_weighting("db_mtl", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    g = ref.G / (ref.losses + 1e-8)[:, None]
    norms = 0.1 * np.linalg.norm(g, axis=1)
    expected = norms.max() / (norms + 1e-8)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-12)
    combined = weights.numpy() @ (0.1 * g)
    np.testing.assert_allclose(toy.shared_grad(), combined, rtol=1e-10)


def test_db_mtl_all_zero_gradients_stay_finite() -> None:
    toy = make_toy(ZERO)
    weights = build_weighting("db_mtl", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    assert np.isfinite(weights.numpy()).all()
    np.testing.assert_array_equal(toy.shared_grad(), np.zeros(6))
    np.testing.assert_array_equal(toy.own_grad(), np.zeros(3))
