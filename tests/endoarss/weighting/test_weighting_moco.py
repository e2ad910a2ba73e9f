"""MoCo against a numpy re-derivation of docs/model.md's formulas over two steps (y and lambda state)."""

from __future__ import annotations

import numpy as np
import pytest
from weighting_toy import STEPS, ZERO, hand, make_toy

from endoarss.weighting import build_weighting


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


@pytest.mark.parametrize("rho", [0.0, 0.3])
def test_moco_two_steps_match_hand_derivation(rho: float) -> None:
    beta, beta_sigma, gamma, gamma_sigma = 0.5, 0.5, 0.1, 0.5
    weighting = build_weighting("moco", 2, rho=rho)
    y, lambd = np.zeros((2, 6)), np.array([0.5, 0.5])
    for k, values in enumerate(STEPS[:2], start=1):
        toy, ref = make_toy(values), hand(values)
        norms = np.sqrt((ref.G**2).sum(1))
        g_hat = ref.G / (norms + 1e-8)[:, None] * ref.losses[:, None]
        y = y - beta * k**-beta_sigma * (y - g_hat)
        lambd = _softmax(lambd - gamma * k**-gamma_sigma * ((y @ y.T + rho * np.eye(2)) @ lambd))

        weights = weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)

        np.testing.assert_allclose(weights.numpy(), lambd, rtol=1e-12)
        np.testing.assert_allclose(toy.shared_grad(), y.T @ lambd, rtol=1e-10, atol=1e-12)
        # Task-specific parameters get grad sum_t L_t.
        np.testing.assert_allclose(toy.own_grad(), ref.own.sum(0), rtol=1e-12)
        np.testing.assert_allclose(weighting.y.numpy(), y, rtol=1e-10, atol=1e-12)


def test_moco_first_step_closed_form() -> None:
    # k = 1: y = 0.5 g_hat, lambda = softmax(0.5 - 0.1 * (y y^T) 0.5).
    toy, ref = make_toy(STEPS[0]), hand(STEPS[0])
    weights = build_weighting("moco", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    unit = ref.G / np.linalg.norm(ref.G, axis=1, keepdims=True)
    y = 0.5 * unit * ref.losses[:, None]
    gram = y @ y.T
    logits = 0.5 - 0.1 * 0.5 * gram.sum(1)
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-7)


def test_moco_all_zero_gradients_stay_finite() -> None:
    toy = make_toy(ZERO)
    weights = build_weighting("moco", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    np.testing.assert_allclose(weights.numpy(), [0.5, 0.5])
    np.testing.assert_array_equal(toy.shared_grad(), np.zeros(6))
