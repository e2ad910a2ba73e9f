"""Multi-task training loop on accelerate: CPU, one GPU, or multi-GPU DDP (``accelerate launch``).

Per step: forward (bf16/fp16 autocast on GPU), one cross-entropy per task (segmentation ignores 255),
``weighting.backward`` fills the gradients, Adam steps. The schedule (StepLR by default) steps per epoch.

DDP and gradient weighting: DB-MTL, MoCo and Aligned-MTL take per-task gradients with
``torch.autograd.grad``, which DDP's gradient hooks never see. So the forward/backward runs under
``accelerator.no_sync`` (DDP only broadcasts the initial weights and BN buffers) and the weighting is
given a ``grad_reducer`` that all-reduces (mean) every gradient tensor it computes - per-task gradient
matrices included - *before* it combines them. Every rank thus applies the same task weights and the
same update to the global-batch gradients, and the weighting states stay identical across ranks.

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
import torch.nn.functional as F

from endoarss.config import TrainConfig
from endoarss.data.augment import AugmentParams
from endoarss.data.cache_setup import attach_cache, verify_dataset
from endoarss.data.dataset import SegActDataset, make_loader, normalize, open_split
from endoarss.engine.checkpoint import write_checkpoint
from endoarss.engine.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    build_model,
    check_run_folder,
    check_weights,
    clear_untrained_run,
    json_safe,
    write_run_files,
)
from endoarss.engine.state import (
    EpochSums,
    ResumePoint,
    check_resume_config,
    make_optimizer,
    make_scheduler,
    restore_last,
    save_last,
    step_seed,
    truncate_lines,
)
from endoarss.errors import ConfigError
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


def _task_losses(out: dict[str, torch.Tensor], batch: dict[str, Any], tasks: list[str]) -> torch.Tensor:
    losses = []
    for t in tasks:
        if t == "activity":
            losses.append(F.cross_entropy(out[t].float(), batch["activity"]))
        else:
            losses.append(F.cross_entropy(out[t].float(), batch["mask"].long(), ignore_index=255))
    return torch.stack(losses)


def _mean_reducer(world: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def reduce(tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.detach().contiguous().clone()
        torch.distributed.all_reduce(out)
        return out / world

    return reduce


def _broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's BN running stats, as DDP does before each forward (ranks end identical)."""
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer.data, src=0)


def _is_better(metric: str, value: float, best: float | None) -> bool:
    if value is None or value != value:  # NaN never wins
        return False
    return best is None or (value < best if metric in LOWER_IS_BETTER else value > best)


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
    from accelerate import Accelerator

    from endoarss.weighting import WeightingConfigError, build_weighting

    run = Path(out)
    resume_from = check_run_folder(run, resume, data)  # before any data or model work: mistakes fail at once
    # Before any data work: a missing Hub checkpoint fails now. The pinned spec (ORG/NAME@sha) goes into
    # config.yaml so eval/predict on another machine load the same weights.
    backbone_weights = check_weights(config.weights, config.backbone, config.backbone_size)
    config = config.model_copy(update={"weights": backbone_weights.spec})
    cuda = torch.cuda.is_available()
    precision = config.amp if cuda and config.amp != "none" else "no"
    accelerator = Accelerator(cpu=not cuda, mixed_precision=precision)
    main, rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    with accelerator.main_process_first():
        if config.verify:
            verify_dataset(data)
        train_split = open_split(data, "train")
    cfg = config.resolved(train_split.dataset)
    if resume_from is not None:
        check_resume_config(TrainConfig.load(run / CONFIG_FILE), cfg)
    labelmap, tasks = train_split.labelmap, list(cfg.tasks)

    model = build_model(cfg, labelmap)
    try:
        weighting = build_weighting(cfg.weighting, len(tasks), **cfg.weighting_kwargs)
    except WeightingConfigError as exc:
        raise ConfigError(f"weighting_kwargs: {exc}") from None
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    scheduler = make_scheduler(optimizer, cfg)
    progress = ResumePoint()
    if resume_from is not None:
        progress = restore_last(resume_from, model, optimizer, scheduler, weighting)

    augment = AugmentParams(cfg.hflip, cfg.scale_range, cfg.color_jitter) if cfg.augment else None
    train_ds = SegActDataset(train_split, cfg.image_size, True, augment, cfg.seed, cfg.verify)
    with accelerator.main_process_first():  # rank 0 fills the cache; the others then open it
        attach_cache(train_ds, cfg.cache, cfg.num_workers)
    loader = make_loader(train_ds, cfg.batch_size, True, cfg.seed, cfg.num_workers, drop_last=True)
    sampler = loader.sampler
    if len(loader) < world:
        raise ConfigError(f"{len(train_ds)} training frames give fewer than one batch of {cfg.batch_size} per rank")
    model, loader = accelerator.prepare(model, loader)
    unwrapped = accelerator.unwrap_model(model)
    shared = unwrapped.shared_parameters()
    owned = unwrapped.task_parameters()
    task_params = [owned[t] for t in tasks]
    if world > 1:
        weighting.grad_reducer = _mean_reducer(world)

    steps_per_epoch = len(loader)
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    eval_split = None
    if main:
        eval_split = open_split(data, cfg.eval_split)
        if resume_from is None:
            clear_untrained_run(run)
        run.mkdir(parents=True, exist_ok=True)
        write_run_files(
            run,
            cfg,
            train_split,
            unwrapped,
            labelmap,
            accelerator,
            str(data),
            resume_from is not None,
            backbone_weights,
        )
        truncate_lines(run / METRICS_FILE, progress.metrics_lines)

    def emit(kind: str, **kw: Any) -> None:
        if on_progress is not None:
            lr = optimizer.param_groups[0]["lr"]
            on_progress(TrainEvent(kind, progress.epoch, progress.global_step, total_steps, main, rank, lr=lr, **kw))

    def checkpoint() -> None:
        if main:
            save_last(run, unwrapped.trainable_state_dict(), optimizer, scheduler, weighting, progress)
        accelerator.wait_for_everyone()

    emit("start")
    last_metrics: dict[str, Any] | None = None
    while progress.epoch < cfg.epochs and (not cfg.max_steps or progress.global_step < cfg.max_steps):
        epoch, t0, images_before = progress.epoch, time.perf_counter(), progress.sums.images
        sampler.set_epoch(epoch)
        loader.set_epoch(epoch)
        batches = accelerator.skip_first_batches(loader, progress.step_in_epoch) if progress.step_in_epoch else loader
        model.train()
        for batch in batches:
            torch.manual_seed(step_seed(cfg.seed, progress.global_step, rank))
            with accelerator.no_sync(model):
                out = model(normalize(batch["image"]))
                losses = _task_losses(out, batch, tasks)
                optimizer.zero_grad(set_to_none=True)
                weights = weighting.backward(losses, shared, task_params, epoch)
            optimizer.step()
            mean_losses = accelerator.reduce(losses.detach(), "mean") if world > 1 else losses.detach()
            progress.global_step += 1
            progress.step_in_epoch += 1
            progress.sums.add(tasks, mean_losses.cpu(), weights.detach().cpu(), len(batch["frame_id"]) * world)
            emit(
                "step",
                losses=dict(zip(tasks, mean_losses.tolist(), strict=True)),
                weights=dict(zip(tasks, weights.tolist(), strict=True)),
                frame_ids=list(batch["frame_id"]),
            )
            stop = bool(cfg.max_steps) and progress.global_step >= cfg.max_steps
            if stop or progress.step_in_epoch == steps_per_epoch:
                break
            if cfg.checkpoint_every and progress.global_step % cfg.checkpoint_every == 0:
                checkpoint()
        # ---- end of epoch (or of the step budget): schedule, eval, log, checkpoints
        # A max_steps stop inside an epoch leaves the epoch open (no schedule step, no best checkpoint,
        # a log line marked partial that a resume drops) so resuming finishes it as a straight run would.
        partial = progress.step_in_epoch < steps_per_epoch
        seconds = time.perf_counter() - t0
        lr = optimizer.param_groups[0]["lr"]
        if not partial:
            scheduler.step()
        if world > 1:
            _broadcast_buffers(unwrapped)
        final = epoch + 1 >= cfg.epochs or (bool(cfg.max_steps) and progress.global_step >= cfg.max_steps)
        do_eval = final or (cfg.eval_every > 0 and (epoch + 1) % cfg.eval_every == 0)
        metrics = None
        if main:
            if do_eval and eval_split is not None:
                with accelerator.autocast():
                    metrics = evaluate_model(unwrapped, eval_split, cfg.image_size, cfg.eval_batch_size,
                                             cfg.num_workers, device=accelerator.device,
                                             cache=cfg.cache, verify=cfg.verify)  # fmt: skip
                last_metrics = metrics
            line = {"epoch": epoch, "step": progress.global_step, "lr": lr, **progress.sums.means(),
                    "throughput_img_s": (progress.sums.images - images_before) / seconds if seconds > 0 else None,
                    "epoch_seconds": seconds, "eval": metrics}  # fmt: skip
            if partial:
                line["partial_epoch"] = True
            with (run / METRICS_FILE).open("a") as fh:
                fh.write(json.dumps(json_safe(line)) + "\n")
            value = None if metrics is None or partial else metrics.get(cfg.best_metric)
            if _is_better(cfg.best_metric, value, progress.best_value):
                progress.best_value, progress.best_epoch = float(value), epoch
                state = {"epoch": epoch, "global_step": progress.global_step, "metric": cfg.best_metric, "value": value}
                write_checkpoint(run / "checkpoints" / "best", {}, unwrapped.trainable_state_dict(), json_safe(state))
            if not partial:  # a resume drops the partial line, so it is not counted
                progress.metrics_lines += 1
        emit("epoch", metrics=metrics, losses=progress.sums.means()["loss"])
        if not partial:
            progress.epoch, progress.step_in_epoch, progress.sums = epoch + 1, 0, EpochSums()
        checkpoint()
    emit("done", metrics=last_metrics, model=unwrapped)
    accelerator.wait_for_everyone()
    summary = {"run": str(run), "global_step": progress.global_step, "epochs_done": progress.epoch,
               "best_metric": cfg.best_metric, "best_value": progress.best_value,
               "best_epoch": progress.best_epoch, "metrics": last_metrics}  # fmt: skip
    accelerator.end_training()
    return json_safe(summary)
