"""Multi-task training loop on accelerate: CPU, one GPU, or multi-GPU DDP (``accelerate launch``).

Per step: forward (bf16/fp16 autocast on GPU), one cross-entropy per task (``engine.losses``),
``weighting.backward`` fills the gradients, Adam steps. The schedule (StepLR by default) steps per epoch.
Under DDP the weighting's gradients are averaged across ranks before it combines them
(``engine.distributed``), so every rank applies the same update.

Only rank 0 writes the RUN folder and evaluates (on the unwrapped model); the others wait at barriers.
Progress goes to ``on_progress(TrainEvent)``, called on every rank (``event.is_main`` tells which).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from endoarss.config import TrainConfig
from endoarss.data.dataset import normalize
from endoarss.engine.checkpoint import write_checkpoint
from endoarss.engine.distributed import broadcast_buffers
from endoarss.engine.losses import batch_losses, weighted_backward
from endoarss.engine.run_folder import METRICS_FILE, json_safe
from endoarss.engine.setup import TrainerSetup
from endoarss.engine.state import EpochSums, save_last, step_seed
from endoarss.inference.evaluate import evaluate_model

LOWER_IS_BETTER = {"hd", "hd95", "loss"}


@dataclass
class TrainEvent:
    """One progress report: ``kind`` is "start", "step", "epoch" (with eval metrics) or "done"."""

    kind: str
    epoch: int
    global_step: int
    total_steps: int
    is_main: bool = True
    rank: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    frame_ids: list[str] = field(default_factory=list)
    lr: float = 0.0
    model: Any = None  # the trained, unwrapped model; set on "done" only (for in-process callers)


def is_better(metric: str, value: float | None, best: float | None) -> bool:
    """Whether ``value`` of ``metric`` beats ``best`` (NaN and None never win)."""
    if value is None or value != value:
        return False
    return best is None or (value < best if metric in LOWER_IS_BETTER else value > best)


class Trainer(TrainerSetup):
    """One training run into a RUN folder: :meth:`run` = :meth:`setup`, then epochs until the budget ends."""

    # ---- the loop
    def run(self) -> dict[str, Any]:
        """Set up, train until ``epochs`` or ``max_steps`` is reached, return the JSON-safe summary."""
        self.setup()
        self.emit("start")
        while not self.budget_spent():
            self.train_epoch()
        self.emit("done", metrics=self.last_metrics, model=self.unwrapped)
        self.accelerator.wait_for_everyone()
        progress = self.progress
        summary = {
            "run": str(self.run_dir),
            "global_step": progress.global_step,
            "epochs_done": progress.epoch,
            "best_metric": self.cfg.best_metric,
            "best_value": progress.best_value,
            "best_epoch": progress.best_epoch,
            "metrics": self.last_metrics,
        }
        self.accelerator.end_training()
        return json_safe(summary)

    def budget_spent(self) -> bool:
        cfg, progress = self.cfg, self.progress
        return progress.epoch >= cfg.epochs or (bool(cfg.max_steps) and progress.global_step >= cfg.max_steps)

    def train_epoch(self) -> None:
        """The rest of the current epoch (a resume skips its done steps), then :meth:`end_epoch`."""
        cfg, progress = self.cfg, self.progress
        epoch, t0, images_before = progress.epoch, time.perf_counter(), progress.sums.images
        self.sampler.set_epoch(epoch)
        self.loader.set_epoch(epoch)
        batches = self.loader
        if progress.step_in_epoch:
            batches = self.accelerator.skip_first_batches(self.loader, progress.step_in_epoch)
        self.model.train()
        for batch in batches:
            self.train_step(batch, epoch)
            stop = bool(cfg.max_steps) and progress.global_step >= cfg.max_steps
            if stop or progress.step_in_epoch == self.steps_per_epoch:
                break
            if cfg.checkpoint_every and progress.global_step % cfg.checkpoint_every == 0:
                self.checkpoint()
        self.end_epoch(epoch, time.perf_counter() - t0, progress.sums.images - images_before)

    def train_step(self, batch: dict[str, Any], epoch: int) -> None:
        """One optimizer step on ``batch``; adds its (rank-averaged) losses to the epoch sums."""
        acc, progress, tasks = self.accelerator, self.progress, self.tasks
        torch.manual_seed(step_seed(self.cfg.seed, progress.global_step, self.rank))
        with acc.no_sync(self.model):
            out = self.model(normalize(batch["image"]))
            losses = batch_losses(out, batch, tasks)
            weights = weighted_backward(losses, self.optimizer, self.weighting, self.weighting_params, epoch)
        self.optimizer.step()
        mean_losses = acc.reduce(losses.detach(), "mean") if self.world > 1 else losses.detach()
        progress.global_step += 1
        progress.step_in_epoch += 1
        images = len(batch["frame_id"]) * self.world
        progress.sums.add(tasks, mean_losses.cpu(), weights.detach().cpu(), images)
        self.emit(
            "step",
            losses=dict(zip(tasks, mean_losses.tolist(), strict=True)),
            weights=dict(zip(tasks, weights.tolist(), strict=True)),
            frame_ids=list(batch["frame_id"]),
        )

    def end_epoch(self, epoch: int, seconds: float, images: int) -> None:
        """Schedule, eval, log line, best and last checkpoints at the end of an epoch (or of the step budget).

        A max_steps stop inside an epoch leaves the epoch open (no schedule step, no best checkpoint, a log
        line marked partial that a resume drops) so resuming finishes it as a straight run would.
        """
        progress = self.progress
        partial = progress.step_in_epoch < self.steps_per_epoch
        lr = self.optimizer.param_groups[0]["lr"]
        if not partial:
            self.scheduler.step()
        if self.world > 1:
            broadcast_buffers(self.unwrapped)
        metrics = None
        if self.main:
            metrics = self.evaluate(epoch)
            self.log(epoch, lr, seconds, images, metrics, partial)
            self.save_best(epoch, None if metrics is None or partial else metrics.get(self.cfg.best_metric))
            if not partial:  # a resume drops the partial line, so it is not counted
                progress.metrics_lines += 1
        self.emit("epoch", metrics=metrics, losses=progress.sums.means()["loss"])
        if not partial:
            progress.epoch, progress.step_in_epoch, progress.sums = epoch + 1, 0, EpochSums()
        self.checkpoint()

    # ---- evaluation, logging, checkpoints
    def evaluate(self, epoch: int) -> dict[str, Any] | None:
        """Rank 0: eval-split metrics when this epoch is due (``eval_every``) or the last; else None."""
        cfg = self.cfg
        final = epoch + 1 >= cfg.epochs or (bool(cfg.max_steps) and self.progress.global_step >= cfg.max_steps)
        due = final or (cfg.eval_every > 0 and (epoch + 1) % cfg.eval_every == 0)
        if not due or self.eval_split is None:
            return None
        with self.accelerator.autocast():
            metrics = evaluate_model(
                self.unwrapped,
                self.eval_split,
                cfg.image_size,
                cfg.eval_batch_size,
                cfg.num_workers,
                device=self.accelerator.device,
                cache=cfg.cache,
                verify=cfg.verify,
            )
        self.last_metrics = metrics
        return metrics

    def log(
        self, epoch: int, lr: float, seconds: float, images: int, metrics: dict[str, Any] | None, partial: bool
    ) -> None:
        """Rank 0: append the epoch's line to metrics.jsonl."""
        line = {
            "epoch": epoch,
            "step": self.progress.global_step,
            "lr": lr,
            **self.progress.sums.means(),
            "throughput_img_s": images / seconds if seconds > 0 else None,
            "epoch_seconds": seconds,
            "eval": metrics,
        }
        if partial:
            line["partial_epoch"] = True
        with (self.run_dir / METRICS_FILE).open("a") as fh:
            fh.write(json.dumps(json_safe(line)) + "\n")

    def save_best(self, epoch: int, value: float | None) -> None:
        """Rank 0: write checkpoints/best when ``value`` of the best metric beats the best so far."""
        progress, metric = self.progress, self.cfg.best_metric
        if not is_better(metric, value, progress.best_value):
            return
        progress.best_value, progress.best_epoch = float(value), epoch
        state = {"epoch": epoch, "global_step": progress.global_step, "metric": metric, "value": value}
        write_checkpoint(
            self.run_dir / "checkpoints" / "best", {}, self.unwrapped.trainable_state_dict(), json_safe(state)
        )

    def checkpoint(self) -> None:
        """Rank 0 writes checkpoints/last (model, optimizer, schedule, weighting, progress); all ranks wait."""
        if self.main:
            state = self.unwrapped.trainable_state_dict()
            save_last(self.run_dir, state, self.optimizer, self.scheduler, self.weighting, self.progress)
        self.accelerator.wait_for_everyone()

    def emit(self, kind: str, **kw: Any) -> None:
        """Send a :class:`TrainEvent` to ``on_progress`` (every rank)."""
        if self.on_progress is None:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        progress = self.progress
        event = TrainEvent(
            kind, progress.epoch, progress.global_step, self.total_steps, self.main, self.rank, lr=lr, **kw
        )
        self.on_progress(event)


def train(
    config: TrainConfig,
    data: str | Path,
    out: Path,
    resume: bool = False,
    on_progress: Callable[[TrainEvent], None] | None = None,
) -> dict[str, Any]:
    """Train ``config`` on ``data`` (built dataset folder or Hub id) into RUN folder ``out``.

    ``resume`` continues ``out/checkpoints/last``; without it, ``out`` must hold no checkpoint (a folder
    left by an attempt that trained nothing is reused). Returns a summary (global step, epochs done, best
    metric/epoch, last eval metrics).
    """
    return Trainer(config, data, out, resume, on_progress).run()
