"""The per-task training losses, shared by the trainer and the efficiency bench so the two cannot drift.

One cross-entropy per task, computed in float32 (the logits may come out of a bf16/fp16 autocast);
segmentation ignores label 255 (docs/model.md). Only torch is imported: the bench runs on a bare GPU box.
"""

from __future__ import annotations

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
