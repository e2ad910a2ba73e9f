"""The per-task training losses and the weighted backward, shared by the trainer and the efficiency bench
so the step the bench measures cannot drift from the step the trainer takes.

One cross-entropy per task, computed in float32 (the logits may come out of a bf16/fp16 autocast);
segmentation ignores label 255 (docs/model.md). Only torch is imported: the bench runs on a bare GPU box.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255  # mask value of pixels without a label


def task_losses(
    out: dict[str, torch.Tensor], activity: torch.Tensor, mask: torch.Tensor, tasks: list[str] | tuple[str, ...]
) -> torch.Tensor:
    """Stacked per-task losses in ``tasks`` order: activity CE on ``activity``, segmentation CE on ``mask``."""
    losses = []
    for task in tasks:
        if task == "activity":
            losses.append(F.cross_entropy(out[task].float(), activity))
        else:
            losses.append(F.cross_entropy(out[task].float(), mask.long(), ignore_index=IGNORE_INDEX))
    return torch.stack(losses)


def batch_losses(out: dict[str, torch.Tensor], batch: dict, tasks: list[str] | tuple[str, ...]) -> torch.Tensor:
    """:func:`task_losses` of a training batch (``endoarss.data.dataset`` keys ``activity`` and ``mask``)."""
    return task_losses(out, batch["activity"], batch["mask"], tasks)


def weighting_parameters(
    model: torch.nn.Module, tasks: list[str] | tuple[str, ...]
) -> tuple[list[torch.nn.Parameter], list[list[torch.nn.Parameter]]]:
    """(shared parameters, each task's own parameters in ``tasks`` order): what a weighting differentiates."""
    owned = model.task_parameters()
    return model.shared_parameters(), [owned[t] for t in tasks]


def weighted_backward(
    losses: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    weighting: Any,
    params: tuple[list[torch.nn.Parameter], list[list[torch.nn.Parameter]]],
    epoch: int,
) -> torch.Tensor:
    """Clear the gradients, let ``weighting`` fill them from ``losses``; returns its task weights.

    The caller steps the optimizer (the trainer does it outside DDP's ``no_sync``).
    """
    optimizer.zero_grad(set_to_none=True)
    shared, task_params = params
    return weighting.backward(losses, shared, task_params, epoch)
