"""Pieces of the training loop that deal with state: optimizer/scheduler, per-epoch sums, checkpoints.

Resume is at **step** granularity: ``checkpoints/last`` records (epoch, batches done in that epoch,
global step), the optimizer/scheduler/weighting states, the epoch's running sums and the number of
``metrics.jsonl`` lines written. Data order and augmentation are functions of (seed, epoch, index) and
dropout is reseeded from (seed, global step, rank) before every step, so a resumed run replays
exactly the computation the uninterrupted run would have done.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from endoarss.config import TrainConfig
from endoarss.engine.checkpoint import load_tree, read_state, restore_rng, rng_state, write_checkpoint
from endoarss.errors import ConfigError

# Keys that may change when resuming a run (they do not change what has been computed so far).
RESUMABLE_KEYS = {
    "epochs",
    "max_steps",
    "num_workers",
    "eval_every",
    "checkpoint_every",
    "eval_batch_size",
    "cache",
    "verify",
}


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam with L2 weight decay, as the release's LibMTL trainer (``optim='adam'``)."""
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: StepLR(step_size, gamma) as the release, cosine to 0, or constant.

    Cosine is the closed form ``lr * (1 + cos(pi * epoch / epochs)) / 2`` rather than CosineAnnealingLR,
    whose recursion and saved ``T_max`` would keep the old cycle when a resume extends ``epochs`` (the
    LR would hit 0 and climb back up); here the LR follows the current ``epochs`` from the resumed epoch on.
    """
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine_to_zero(cfg.epochs))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def _cosine_to_zero(epochs: int) -> Callable[[int], float]:
    """LR factor of epoch e for a cosine from 1 to 0 over ``epochs``.

    A plain function on purpose: LambdaLR saves (and a resume would restore) the attributes of a
    callable object, which would bring the old ``epochs`` back.
    """
    total = max(epochs, 1)

    def factor(epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, total) / total))

    return factor


def sync_lr(optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    """Put the closed-form LR of the current epoch into the optimizer (after a resume; LambdaLR only)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
            group["lr"] = base * factor(scheduler.last_epoch)


def step_seed(seed: int, global_step: int, rank: int) -> int:
    """Seed of the torch generator for one optimizer step on one rank (dropout, random init none)."""
    return int(np.random.SeedSequence([seed, global_step, rank]).generate_state(1)[0])


@dataclass
class EpochSums:
    """Running sums of one epoch (restored on a mid-epoch resume so the logged means stay exact)."""

    steps: int = 0
    images: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)

    def add(self, tasks: list[str], losses: torch.Tensor, weights: torch.Tensor, images: int) -> None:
        self.steps += 1
        self.images += images
        for t, loss, w in zip(tasks, losses.tolist(), weights.tolist(), strict=True):
            self.losses[t] = self.losses.get(t, 0.0) + loss
            self.weights[t] = self.weights.get(t, 0.0) + w

    def means(self) -> dict[str, dict[str, float]]:
        n = max(self.steps, 1)
        return {
            "loss": {t: v / n for t, v in self.losses.items()},
            "weights": {t: v / n for t, v in self.weights.items()},
        }


@dataclass
class ResumePoint:
    """Where an interrupted run resumes (the run's position); what ``state.json`` of ``checkpoints/last`` holds."""

    epoch: int = 0  # current (0-based) epoch
    step_in_epoch: int = 0  # optimizer steps already done in ``epoch``
    global_step: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    metrics_lines: int = 0
    sums: EpochSums = field(default_factory=EpochSums)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResumePoint:
        sums = EpochSums(**data.pop("sums"))
        return cls(**data, sums=sums)


def save_last(
    run: Path,
    model_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    weighting: Any,
    progress: ResumePoint,
) -> None:
    parts = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "weighting": weighting.state_dict(),
        "rng": rng_state(),
    }
    write_checkpoint(run / "checkpoints" / "last", parts, model_state, progress.to_json())


def restore_last(folder: Path, model: Any, optimizer: Any, scheduler: Any, weighting: Any) -> ResumePoint:
    """Load a ``checkpoints/last`` folder into the (unwrapped) model and the training objects."""
    from endoarss.engine.checkpoint import load_model_state

    model.load_trainable_state_dict(load_model_state(folder))
    optimizer.load_state_dict(load_tree(folder, "optimizer"))
    scheduler.load_state_dict(load_tree(folder, "scheduler"))
    sync_lr(optimizer, scheduler)
    weighting.load_state_dict(load_tree(folder, "weighting"))
    restore_rng(load_tree(folder, "rng"))
    return ResumePoint.from_json(read_state(folder))


def check_resume_config(saved: TrainConfig, given: TrainConfig) -> None:
    """A resumed run must keep every setting that shaped its past; only RESUMABLE_KEYS may differ."""
    a, b = saved.to_dict(), given.to_dict()
    changed = sorted(k for k in a if a[k] != b[k] and k not in RESUMABLE_KEYS)
    if changed:
        detail = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in changed)
        raise ConfigError(f"cannot resume with a different config ({detail}); only {sorted(RESUMABLE_KEYS)} may change")


def truncate_lines(path: Path, keep: int) -> None:
    """Drop ``metrics.jsonl`` lines written after the checkpoint we resume from."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:keep]))
