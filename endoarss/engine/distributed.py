"""DDP helpers of the trainer: gradient averaging for the weightings, BN buffer sync.

DB-MTL, MoCo and Aligned-MTL take per-task gradients with ``torch.autograd.grad``, which DDP's gradient
hooks never see. So the trainer runs forward/backward under ``accelerator.no_sync`` (DDP only broadcasts
the initial weights and BN buffers) and gives the weighting a ``grad_reducer`` (:func:`mean_reducer`)
that all-reduces (mean) every gradient tensor it computes - per-task gradient matrices included -
*before* it combines them. Every rank thus applies the same task weights and the same update to the
global-batch gradients, and the weighting states stay identical across ranks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def mean_reducer(world: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function that returns the mean of a tensor over the ``world`` ranks (the input is not modified)."""

    def reduce(tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.detach().contiguous().clone()
        torch.distributed.all_reduce(out)
        return out / world

    return reduce


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's BN running stats, as DDP does before each forward (ranks end identical)."""
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer.data, src=0)
