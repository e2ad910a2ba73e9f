"""STCH (Lin et al. ICML 2024, "Smooth Tchebycheff Scalarization"), LibMTL semantics.

A smooth max over the tasks' log-loss ratios to a nadir point, so the currently worst task (relative
to its own scale) dominates the step. The nadir is each task's mean loss over the last warm-up epoch.
"""

from __future__ import annotations

import torch

from endoarss.weighting.base import StateDict, Weighting, WeightingConfigError, WeightingStateError

_LOG_EPS = 1e-20


class STCH(Weighting):
    """Scalarised loss by epoch ``e`` with warm-up ``W``:

    * ``e < W``: ``sum_t log(L_t + 1e-20)``;
    * ``e == W``: the same, and the detached losses are summed to form the nadir ``n = mean L``;
    * ``e > W``: ``T * mu * logsumexp((l - max(l)) / mu)`` with ``l_t = log(L_t / n_t + 1e-20)``
      (``max`` detached). The nadir is frozen on the first call with ``e > W``.

    One backward through every parameter. The returned weights are ``d loss / d L_t``, so the gradient
    applied equals ``sum_t w_t grad L_t``.
    """

    name = "stch"

    def __init__(self, num_tasks: int, mu: float = 1.0, warmup_epoch: int = 4) -> None:
        super().__init__(num_tasks)
        if not float(mu) > 0.0:
            raise WeightingConfigError(f"stch: mu must be > 0, got {mu!r}")
        if isinstance(warmup_epoch, bool) or not isinstance(warmup_epoch, int) or warmup_epoch < 0:
            raise WeightingConfigError(f"stch: warmup_epoch must be an int >= 0, got {warmup_epoch!r}")
        self.mu = float(mu)
        self.warmup_epoch = warmup_epoch
        self.loss_sum: torch.Tensor | None = None
        self.loss_count = 0
        self.nadir: torch.Tensor | None = None

    def hparams(self) -> dict[str, float | int]:
        return {"mu": self.mu, "warmup_epoch": self.warmup_epoch}

    def _backward(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor:
        values = self._reduce(losses.detach().clone())
        if epoch == self.warmup_epoch:
            self.loss_sum = values.clone() if self.loss_sum is None else self.loss_sum.to(values) + values
            self.loss_count += 1
        if epoch > self.warmup_epoch and self.nadir is None:
            if self.loss_sum is None or self.loss_count == 0:
                raise WeightingStateError(
                    f"stch: epoch {epoch} is past warmup_epoch {self.warmup_epoch} but no losses were "
                    "recorded at the warm-up epoch; resume with the weighting's saved state_dict"
                )
            self.nadir = self.loss_sum / self.loss_count
        leaf = values.requires_grad_(True)
        with torch.enable_grad():
            scalar = self._scalarise(leaf, epoch)
            (weights,) = torch.autograd.grad(scalar, leaf)
        self._apply_loss_weights(losses, weights, shared, tasks)
        return weights

    def _scalarise(self, losses: torch.Tensor, epoch: int) -> torch.Tensor:
        if epoch <= self.warmup_epoch or self.nadir is None:
            return torch.log(losses + _LOG_EPS).sum()
        logs = torch.log(losses / self.nadir.to(losses) + _LOG_EPS)
        shifted = (logs - logs.max().detach()) / self.mu
        return self.num_tasks * self.mu * torch.logsumexp(shifted, dim=0)

    def _extra_state(self) -> StateDict:
        state: StateDict = {"loss_count": torch.tensor(self.loss_count, dtype=torch.int64)}
        if self.loss_sum is not None:
            state["loss_sum"] = self.loss_sum
        if self.nadir is not None:
            state["nadir"] = self.nadir
        return state

    def _extra_state_keys(self) -> tuple[str, ...]:
        return ("loss_count", "loss_sum", "nadir")

    def _load_extra_state(self, state: StateDict) -> None:
        self.loss_count = int(state["loss_count"]) if "loss_count" in state else 0
        self.loss_sum = state.get("loss_sum")
        self.nadir = state.get("nadir")
