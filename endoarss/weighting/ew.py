"""EW (equal weighting): the plain sum of the task losses, the baseline every method is compared to."""

from __future__ import annotations

import torch

from endoarss.weighting.base import Weighting


class EW(Weighting):
    """Backpropagates ``sum_t L_t`` in one pass; the applied weights are all ones."""

    name = "ew"

    def _backward(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor:
        weights = torch.ones_like(losses.detach())
        self._apply_loss_weights(losses, weights, shared, tasks)
        return weights
