"""The RUN folder: layout, provenance, and rebuilding a trained model from it.

```
RUN/
  config.yaml            fully resolved TrainConfig
  labelmap.json          {dataset, activities, classes} of the training data (names, ids, colours)
  model.json             model.config: kwargs that rebuild the architecture with create_model
  run_info.json          seed, git SHA, package versions, device, data source/version, resumes
  metrics.jsonl          one JSON object per epoch (losses, task weights, lr, img/s, eval metrics)
  checkpoints/last/      model.safetensors + optimizer/scheduler/weighting/rng (.safetensors + .json) + state.json
  checkpoints/best/      model.safetensors + state.json (epoch, metric, value)
  eval/                  one `endods eval` result per <dataset>-<version>-<split>[-compat].json
  eval.json              the latest `endods eval` result
```
Only trainable weights are stored; frozen backbone weights come from ``weights`` (pretrained) or, for
random test backbones, from re-seeding with the run's seed before building (bit-identical init).
"""

from __future__ import annotations

import json
import platform
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from endoarss.config import TrainConfig
from endoarss.engine.checkpoint import find_checkpoint, load_model_state
from endoarss.errors import CheckpointError, ConfigError
from endoarss.models.weights import RANDOM, BackboneWeights, resolve_weights
from schemas.labelmaps import LabelMap
from schemas.provenance import git_sha, package_versions

CONFIG_FILE = "config.yaml"
LABELMAP_FILE = "labelmap.json"
MODEL_CONFIG_FILE = "model.json"
RUN_INFO_FILE = "run_info.json"
METRICS_FILE = "metrics.jsonl"
PACKAGES = ("torch", "transformers", "accelerate", "datasets", "safetensors", "numpy", "endods")


def build_model(cfg: TrainConfig, labelmap: LabelMap) -> torch.nn.Module:
    """``create_model`` from a config; seeds torch first so a random backbone is reproducible."""
    from endoarss.models import backbone_config_for, create_model

    resolved = check_weights(cfg.weights, cfg.backbone, cfg.backbone_size)
    backbone_config = cfg.backbone_config
    if backbone_config is None and resolved.path is None:
        backbone_config = backbone_config_for(cfg.backbone, cfg.backbone_size)
    torch.manual_seed(cfg.seed)
    return create_model(
        backbone=cfg.backbone,
        arch=cfg.arch,
        tasks=tuple(cfg.tasks),
        num_activities=labelmap.num_activities,
        num_classes=labelmap.num_classes,
        sma=cfg.sma,
        rank=cfg.rank,
        weights=resolved.path,
        backbone_config=backbone_config,
        **{"image_size": max(cfg.image_size), "sma_dim": cfg.sma_dim, **cfg.arch_kwargs},
    )


def check_weights(weights: str | None, backbone: str = "dinov2", backbone_size: str = "base") -> BackboneWeights:
    """Resolve ``weights`` (see ``endoarss.models.weights``): a Hub checkpoint is found in the cache or
    downloaded now, so a missing one fails before any data work with the ways out in the message."""
    return resolve_weights(weights, backbone, backbone_size)


def check_run_folder(run: Path, resume: bool, data: str | Path | None = None) -> Path | None:
    """The ``checkpoints/last`` to resume from, or None for a fresh run; ConfigError where ``run`` cannot serve.

    A folder without ``checkpoints/last`` has trained nothing (e.g. a run that failed while loading
    data): a fresh run may reuse it (its run files are rewritten) and there is nothing to resume.
    A folder with one needs ``resume``. Reads only, so every rank may call it before any work.
    ``data`` (a local dataset) must not hold the run: its files are hashed in its manifest.
    """
    from schemas.outputs import OutputError, check_place

    run = Path(run)
    for path in (run, *run.parents):  # the first existing one must be a folder, or mkdir fails
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                what = f"{run} exists" if path == run else f"{run}: {path} exists"
                raise ConfigError(f"{what} and is not a folder; choose another --out for the RUN folder")
            break
    try:
        check_place(run, sealed=[data] if data is not None else [])
    except OutputError as exc:
        raise ConfigError(f"--out {exc}") from None
    last = find_checkpoint(run / "checkpoints" / "last")
    if resume and last is None:
        raise ConfigError(f"nothing to resume in {run}: no checkpoints/last; drop --resume to start a new run")
    if last is None:
        return None
    if not resume:
        raise ConfigError(f"{run} already holds a run; pass --resume to continue it or choose another --out")
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"{run}: checkpoints/last but no {CONFIG_FILE}; cannot resume this folder")
    return last


def clear_untrained_run(run: Path) -> None:
    """Before a fresh run reuses a folder: drop checkpoints and metrics a failed earlier attempt left."""
    shutil.rmtree(Path(run) / "checkpoints", ignore_errors=True)
    (Path(run) / METRICS_FILE).unlink(missing_ok=True)


def write_run_files(
    run: Path,
    cfg: TrainConfig,
    split: Any,
    model: Any,
    labelmap: LabelMap,
    accelerator: Any,
    data: str,
    resumed: bool,
    backbone_weights: BackboneWeights | None = None,
) -> None:
    """config.yaml, labelmap.json, model.json and run_info.json (a resume appends to ``resumes``)."""
    (run / CONFIG_FILE).write_text(cfg.to_yaml())
    (run / LABELMAP_FILE).write_text(json.dumps(labelmap_to_json(labelmap), indent=2) + "\n")
    (run / MODEL_CONFIG_FILE).write_text(json.dumps(model.config, indent=2) + "\n")
    info_path = run / RUN_INFO_FILE
    version = None
    manifest = Path(data) / "manifest.json"
    if manifest.is_file():
        version = json.loads(manifest.read_text()).get("version") or None
    extra = {
        "device": str(accelerator.device),
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "dataset": split.dataset,
        "train_frames": len(split),
        "verify": cfg.verify,  # false: an expert skipped the dataset integrity checks (--no-verify)
    }
    if backbone_weights is not None:  # resolved id + revision / local path, and the random-backbone warning
        extra["backbone_weights"] = backbone_weights.to_json()
    info = run_info(cfg, data, version, extra)
    if resumed and info_path.is_file():
        old = json.loads(info_path.read_text())
        old.setdefault("resumes", []).append(info)
        info = old
    info_path.write_text(json.dumps(json_safe(info), indent=2) + "\n")


def labelmap_to_json(labelmap: LabelMap) -> dict[str, Any]:
    return {"dataset": labelmap.dataset, **labelmap.to_dict()}


def run_info(cfg: TrainConfig, data: str, dataset_version: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": cfg.seed,
        "git_sha": git_sha(),
        "packages": package_versions(PACKAGES),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "data": data,
        "dataset_version": dataset_version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def json_safe(obj: Any) -> Any:
    """NaN/inf → None and numpy scalars → Python, so files are strict JSON."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item() if getattr(obj, "ndim", 0) == 0 else obj.tolist()
        return json_safe(obj)
    if isinstance(obj, float) and obj != obj or obj in (float("inf"), float("-inf")):
        return None
    return obj


@dataclass
class LoadedRun:
    """A trained model ready for inference, with what is needed to interpret its outputs."""

    model: torch.nn.Module
    config: TrainConfig
    labelmap: LabelMap
    checkpoint: Path


def load_run(run: Path, checkpoint: str = "best", weights: str | None = None) -> LoadedRun:
    """Rebuild the model of RUN and load ``checkpoints/<checkpoint>`` (falls back best → last).

    ``weights`` overrides the pretrained backbone location recorded in the config (another machine).
    """
    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"{run}: not a RUN folder (no {CONFIG_FILE})")
    cfg = TrainConfig.load(run / CONFIG_FILE)
    if weights is not None:
        cfg.weights = weights
    elif cfg.weights is None:  # runs from before weights were pinned at train time trained a random backbone
        cfg.weights = RANDOM
    try:
        lm = json.loads((run / LABELMAP_FILE).read_text())
        labelmap = LabelMap.from_dict(lm["dataset"], lm)
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{run}/{LABELMAP_FILE}: cannot read label map: {exc}") from None
    order = [checkpoint] + (["last"] if checkpoint == "best" else [])
    found = next((c for c in (find_checkpoint(run / "checkpoints" / name) for name in order) if c), None)
    if found is None:
        raise CheckpointError(f"{run}/checkpoints: no {' or '.join(order)} checkpoint")
    model = build_model(cfg, labelmap)
    model.load_trainable_state_dict(load_model_state(found))
    model.eval()
    return LoadedRun(model, cfg, labelmap, found)


def check_labelmaps_compatible(trained: LabelMap, data: LabelMap, where: str) -> None:
    """Evaluation across datasets needs the same activity and class names at the same ids."""
    problems = []
    if list(trained.activities) != list(data.activities):
        problems.append(f"activities {list(data.activities)} != trained {list(trained.activities)}")
    if trained.class_names != data.class_names:
        problems.append(f"classes {data.class_names} != trained {trained.class_names}")
    if problems:
        raise ConfigError(
            f"{where}: label map of {data.dataset!r} is not aligned with the model's ({trained.dataset!r}): "
            + "; ".join(problems)
        )
