"""DB-MTL (Lin et al. 2023, "Dual-Balancing Multi-Task Learning"), LibMTL semantics.

Loss-scale balancing: each task's objective is ``log(L_t + 1e-8)``, so tasks whose losses differ by
orders of magnitude contribute comparable gradients. Gradient-magnitude balancing: an EMA of each task's
shared gradient is rescaled so that every task has the norm of the largest one.
"""

from __future__ import annotations

import torch

from endoarss.weighting.base import StateDict, Weighting, WeightingConfigError, WeightingStateError

_LOG_EPS = 1e-8
_NORM_EPS = 1e-8


def _log_objective(losses: torch.Tensor) -> torch.Tensor:
    return torch.log(losses + _LOG_EPS)


class DBMTL(Weighting):
    """Shared grad ``sum_t alpha_t G_t`` with ``G_t`` the EMA of ``grad log(L_t + 1e-8)``.

    ``G <- beta_k G + (1 - beta_k) g`` with ``beta_k = beta * k**-beta_sigma``; ``G`` starts at zero and
    is not bias-corrected (as in LibMTL). ``alpha_t = max_j |G_j| / (|G_t| + 1e-8)`` are the returned
    weights. Task-specific parameters get ``grad log(L_t + 1e-8)`` of their own task.
    """

    name = "db_mtl"

    def __init__(self, num_tasks: int, beta: float = 0.9, beta_sigma: float = 0.0) -> None:
        super().__init__(num_tasks)
        if not 0.0 <= float(beta) <= 1.0:
            raise WeightingConfigError(f"db_mtl: beta must be in [0, 1], got {beta!r}")
        if float(beta_sigma) < 0.0:
            raise WeightingConfigError(f"db_mtl: beta_sigma must be >= 0, got {beta_sigma!r}")
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        self.grad_buffer: torch.Tensor | None = None

    def hparams(self) -> dict[str, float | int]:
        return {"beta": self.beta, "beta_sigma": self.beta_sigma}

    def _backward(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor:
        grads, own = self._task_grads(losses, shared, tasks, _log_objective)
        buffer = self.grad_buffer
        if buffer is None:
            buffer = torch.zeros_like(grads)
        elif buffer.shape != grads.shape:
            raise WeightingStateError(
                f"db_mtl: EMA buffer has shape {tuple(buffer.shape)}, gradients {tuple(grads.shape)}"
            )
        beta_k = self.beta / self.step**self.beta_sigma
        buffer = grads + beta_k * (buffer.to(grads) - grads)
        self.grad_buffer = buffer
        norms = buffer.norm(dim=1)
        alpha = norms.max() / (norms + _NORM_EPS)
        self._write_combined(alpha @ buffer, own, shared, tasks)
        return alpha

    def _extra_state(self) -> StateDict:
        return {} if self.grad_buffer is None else {"grad_buffer": self.grad_buffer}

    def _extra_state_keys(self) -> tuple[str, ...]:
        return ("grad_buffer",)

    def _load_extra_state(self, state: StateDict) -> None:
        self.grad_buffer = state.get("grad_buffer")
