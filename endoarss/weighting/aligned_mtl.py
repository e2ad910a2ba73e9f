"""Aligned-MTL (Senushkin et al. CVPR 2023, "Independent Component Alignment"), LibMTL semantics.

Conflicting and dominating gradients show up as a badly conditioned Gram matrix of the task
gradients; Aligned-MTL rescales the gradient system to condition number one (all singular values equal
to the smallest kept one) and sums the aligned components.
"""

from __future__ import annotations

import torch

from endoarss.weighting.base import Weighting

# docs/model.md "Weightings": eigenvalues are kept above max(eig) * T * eps(float32), whatever the compute dtype (LibMTL
# uses the default dtype's eps).
_EPS = torch.finfo(torch.float32).eps


def aligned_weights(grads: torch.Tensor) -> torch.Tensor:
    """Weights ``alpha = B 1`` for the ``(T, D)`` gradient matrix, ``B = sqrt(l_min) V L^-1/2 V^T``.

    ``M = G G^T`` is eigendecomposed and only eigenvalues above ``max(eig) * T * eps`` are kept
    (rank-deficient systems). When no eigenvalue survives (all gradients zero) the weights fall back
    to ones: every combination of zero gradients is zero, so this only keeps the weights finite.
    """
    num_tasks = grads.shape[0]
    gram = grads @ grads.T
    eigvals, eigvecs = torch.linalg.eigh(gram)
    top = eigvals.max()
    keep = eigvals > top * num_tasks * _EPS
    if not bool(top > 0) or not bool(keep.any()):
        return torch.ones(num_tasks, dtype=grads.dtype, device=grads.device)
    kept_vals, kept_vecs = eigvals[keep], eigvecs[:, keep]
    basis = kept_vals.min().sqrt() * (kept_vecs * kept_vals.rsqrt()) @ kept_vecs.T
    return basis.sum(dim=0)


class AlignedMTL(Weighting):
    """Shared grad ``sum_t alpha_t g_t`` (:func:`aligned_weights`); own params get ``grad sum_t L_t``."""

    name = "aligned_mtl"

    def _backward(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor:
        grads, own = self._task_grads(losses, shared, tasks)
        alpha = aligned_weights(grads)
        self._write_combined(alpha @ grads, own, shared, tasks)
        return alpha
