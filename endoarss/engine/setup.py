"""Setup half of the :class:`endoarss.engine.trainer.Trainer`: RUN folder and weights checks, accelerator,
config resolution, model + weighting + optimizer (+ resume), the training loader and the RUN files.

Kept apart from the loop so each file reads as one concern; ``Trainer`` subclasses :class:`TrainerSetup`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from endoarss.config import TrainConfig
from endoarss.data.augment import AugmentParams
from endoarss.data.cache_setup import attach_cache, verify_dataset
from endoarss.data.dataset import SegActDataset, make_loader, open_split
from endoarss.engine.distributed import mean_reducer
from endoarss.engine.losses import weighting_parameters
from endoarss.engine.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    build_model,
    check_run_folder,
    check_weights,
    clear_untrained_run,
    write_run_files,
)
from endoarss.engine.state import (
    ResumePoint,
    check_resume_config,
    make_optimizer,
    make_scheduler,
    restore_last,
    truncate_lines,
)
from endoarss.errors import ConfigError

if TYPE_CHECKING:
    from endoarss.engine.trainer import TrainEvent


class TrainerSetup:
    """Builds everything a training run needs; :meth:`setup` runs the steps in order.

    ``resume`` continues ``out/checkpoints/last``; without it, ``out`` must hold no checkpoint (a folder
    left by an attempt that trained nothing is reused).
    """

    def __init__(
        self,
        config: TrainConfig,
        data: str | Path,
        out: Path,
        resume: bool = False,
        on_progress: Callable[[TrainEvent], None] | None = None,
    ) -> None:
        self.config, self.data, self.run_dir = config, data, Path(out)
        self.resume, self.on_progress = resume, on_progress
        self.progress = ResumePoint()
        self.last_metrics: dict[str, Any] | None = None

    # ---- setup
    def setup(self) -> None:
        """Check the RUN folder and weights, then build accelerator, data, model, optimizer and RUN files."""
        # Before any data or model work, so mistakes (a missing Hub checkpoint too) fail at once. The pinned
        # spec (ORG/NAME@sha) goes into config.yaml so eval/predict elsewhere load the same weights.
        self.resume_from = check_run_folder(self.run_dir, self.resume, self.data)
        config = self.config
        self.backbone_weights = check_weights(config.weights, config.backbone, config.backbone_size)
        self.config = config.model_copy(update={"weights": self.backbone_weights.spec})
        self._setup_accelerator()
        self._setup_config()
        self._setup_model()
        self._setup_loader()
        self._setup_run_folder()

    def _setup_accelerator(self) -> None:
        from accelerate import Accelerator

        cuda = torch.cuda.is_available()
        precision = self.config.amp if cuda and self.config.amp != "none" else "no"
        self.accelerator = Accelerator(cpu=not cuda, mixed_precision=precision)
        acc = self.accelerator
        self.main, self.rank, self.world = acc.is_main_process, acc.process_index, acc.num_processes

    def _setup_config(self) -> None:
        with self.accelerator.main_process_first():
            if self.config.verify:
                verify_dataset(self.data)
            self.train_split = open_split(self.data, "train")
        self.cfg = self.config.resolved(self.train_split.dataset)
        if self.resume_from is not None:
            check_resume_config(TrainConfig.load(self.run_dir / CONFIG_FILE), self.cfg)
        self.labelmap, self.tasks = self.train_split.labelmap, list(self.cfg.tasks)

    def _setup_model(self) -> None:
        from endoarss.weighting import WeightingConfigError, build_weighting

        cfg = self.cfg
        self.model = build_model(cfg, self.labelmap)
        try:
            self.weighting = build_weighting(cfg.weighting, len(self.tasks), **cfg.weighting_kwargs)
        except WeightingConfigError as exc:
            raise ConfigError(f"weighting_kwargs: {exc}") from None
        self.optimizer = make_optimizer([p for p in self.model.parameters() if p.requires_grad], cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg)
        if self.resume_from is not None:
            self.progress = restore_last(self.resume_from, self.model, self.optimizer, self.scheduler, self.weighting)

    def _setup_loader(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        augment = AugmentParams(cfg.hflip, cfg.scale_range, cfg.color_jitter) if cfg.augment else None
        train_ds = SegActDataset(self.train_split, cfg.image_size, True, augment, cfg.seed, cfg.verify)
        with acc.main_process_first():  # rank 0 fills the cache; the others then open it
            attach_cache(train_ds, cfg.cache, cfg.num_workers)
        loader = make_loader(train_ds, cfg.batch_size, True, cfg.seed, cfg.num_workers, drop_last=True)
        self.sampler = loader.sampler
        if len(loader) < self.world:
            raise ConfigError(f"{len(train_ds)} training frames give fewer than one batch of {cfg.batch_size} per rank")
        self.model, self.loader = acc.prepare(self.model, loader)
        self.unwrapped = acc.unwrap_model(self.model)
        self.weighting_params = weighting_parameters(self.unwrapped, self.tasks)
        if self.world > 1:
            self.weighting.grad_reducer = mean_reducer(self.world)
        self.steps_per_epoch = len(self.loader)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)

    def _setup_run_folder(self) -> None:
        """Rank 0: open the eval split, (re)write the RUN files, drop metrics lines a resume does not keep."""
        self.eval_split = None
        if not self.main:
            return
        run, resumed = self.run_dir, self.resume_from is not None
        self.eval_split = open_split(self.data, self.cfg.eval_split)
        if not resumed:
            clear_untrained_run(run)
        run.mkdir(parents=True, exist_ok=True)
        write_run_files(
            run,
            self.cfg,
            self.train_split,
            self.unwrapped,
            self.labelmap,
            self.accelerator,
            str(self.data),
            resumed,
            self.backbone_weights,
        )
        truncate_lines(run / METRICS_FILE, self.progress.metrics_lines)
