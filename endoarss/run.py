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
  eval.json              written by `endods eval`
```
Only trainable weights are stored; frozen backbone weights come from ``weights`` (pretrained) or, for
random test backbones, from re-seeding with the run's seed before building (bit-identical init).
"""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from endoarss.checkpoint import find_checkpoint, load_model_state
from endoarss.config import TrainConfig
from endoarss.errors import CheckpointError, ConfigError
from schemas.labelmaps import LabelMap

CONFIG_FILE = "config.yaml"
LABELMAP_FILE = "labelmap.json"
MODEL_CONFIG_FILE = "model.json"
RUN_INFO_FILE = "run_info.json"
METRICS_FILE = "metrics.jsonl"
PACKAGES = ("torch", "transformers", "accelerate", "datasets", "safetensors", "numpy", "endods")


def build_model(cfg: TrainConfig, labelmap: LabelMap) -> torch.nn.Module:
    """``create_model`` from a config; seeds torch first so a random backbone is reproducible."""
    from endoarss.models import backbone_config_for, create_model

    backbone_config = cfg.backbone_config
    if backbone_config is None and cfg.weights is None:
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
        weights=cfg.weights,
        backbone_config=backbone_config,
        **{"image_size": max(cfg.image_size), **cfg.arch_kwargs},
    )


def labelmap_to_json(labelmap: LabelMap) -> dict[str, Any]:
    return {"dataset": labelmap.dataset, **labelmap.to_dict()}


def git_sha() -> str | None:
    """HEAD of the checkout this package runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_info(cfg: TrainConfig, data: str, dataset_version: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": cfg.seed,
        "git_sha": git_sha(),
        "packages": package_versions(),
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
