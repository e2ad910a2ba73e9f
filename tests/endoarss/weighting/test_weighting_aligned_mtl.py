"""Aligned-MTL against a numpy eigendecomposition re-derivation, rank deficiency and zero gradients."""

from __future__ import annotations

import numpy as np
import torch
from weighting_toy import STEPS, ZERO, hand, make_toy

from endoarss.weighting import build_weighting
from endoarss.weighting.aligned_mtl import aligned_weights

EPS32 = np.finfo(np.float32).eps


def _numpy_alpha(G: np.ndarray) -> np.ndarray:
    M = G @ G.T
    vals, vecs = np.linalg.eigh(M)
    keep = vals > vals.max() * G.shape[0] * EPS32
    vals, vecs = vals[keep], vecs[:, keep]
    B = np.sqrt(vals.min()) * vecs @ np.diag(1 / np.sqrt(vals)) @ vecs.T
    return B @ np.ones(G.shape[0])


def test_aligned_mtl_matches_numpy_eigendecomposition() -> None:
    weighting = build_weighting("aligned_mtl", 2)
    for values in STEPS[:2]:
        toy, ref = make_toy(values), hand(values)
        alpha = _numpy_alpha(ref.G)
        weights = weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
        np.testing.assert_allclose(weights.numpy(), alpha, rtol=1e-10)
        np.testing.assert_allclose(toy.shared_grad(), alpha @ ref.G, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(toy.own_grad(), ref.own.sum(0), rtol=1e-12)


def test_aligned_mtl_aligned_gradient_has_unit_condition_number() -> None:
    # Property of the method: the rescaled system B G has all singular values equal to sqrt(l_min).
    rng = np.random.default_rng(0)
    G = rng.normal(size=(3, 7))
    vals, vecs = np.linalg.eigh(G @ G.T)
    B = np.sqrt(vals.min()) * vecs @ np.diag(vals**-0.5) @ vecs.T
    np.testing.assert_allclose(np.linalg.svd(B @ G, compute_uv=False), np.sqrt(vals.min()), rtol=1e-10)
    alpha = aligned_weights(torch.from_numpy(G)).numpy()
    np.testing.assert_allclose(alpha, B.sum(0), rtol=1e-10)


def test_aligned_weights_rank_deficient_closed_form() -> None:
    # Parallel gradients g, 2g with g = (1, 2): M has eigenvalues 0 and 25, v = (1, 2)/sqrt(5);
    # only 25 is kept, B = sqrt(25) v 25^-1/2 v^T = v v^T = [[.2, .4], [.4, .8]], alpha = (0.6, 1.2).
    G = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    np.testing.assert_allclose(aligned_weights(G).numpy(), [0.6, 1.2], rtol=1e-12)


def test_aligned_mtl_all_zero_gradients_guarded() -> None:
    assert torch.equal(aligned_weights(torch.zeros(2, 5)), torch.ones(2))
    toy = make_toy(ZERO)
    weights = build_weighting("aligned_mtl", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    assert np.isfinite(weights.numpy()).all()
    np.testing.assert_array_equal(toy.shared_grad(), np.zeros(6))
