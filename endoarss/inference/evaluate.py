"""Evaluate a model / a RUN on a dataset split: metrics at label resolution, eval.json, confusion plot.

Segmentation logits come out at the model input size; each is upsampled (bilinear) to its frame's
label resolution before the argmax, as docs/model.md "Tasks and inputs" specifies, so numbers do not depend on ``image_size``.
A model trained on one dataset can be evaluated on another whose label map has the same activity and
class names (MTLEndovis → MTLEndovis-Gen); anything else is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from endoarss.data.dataset import (
    DataError,
    SegActDataset,
    SplitData,
    dataset_is_local,
    make_loader,
    normalize,
    open_split,
)
from endoarss.engine.run_folder import check_labelmaps_compatible, json_safe, load_run
from schemas.atomic import atomic_write_text
from schemas.progress import ProgressFn

EVAL_FILE = "eval.json"  # the latest evaluation, kept for compatibility
EVAL_DIR = "eval"  # one file per dataset, version, split and mode: eval/<dataset>-<version>-<split>[-compat].json
CONFUSION_FILE = "confusion_activity.png"


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    split: SplitData,
    image_size: tuple[int, int],
    batch_size: int = 16,
    num_workers: int = 0,
    compat: bool = False,
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager | None = None,
    on_progress: ProgressFn | None = None,
    cache: str = "off",
    verify: bool = True,
) -> dict[str, Any]:
    """Metrics dict of :class:`endoarss.metrics.SegActMeter` for the tasks the model has.

    ``cache`` (auto | off | folder) reads the split through the decoded-sample cache; ``verify`` checks
    PNG signatures and mask values while reading (``endoarss.data.frames``).
    """
    from endoarss.data.cache_setup import attach_cache
    from endoarss.metrics import SegActMeter

    labelmap = split.labelmap
    tasks = list(getattr(model, "tasks", ()))
    meter = SegActMeter(labelmap.num_classes, labelmap.num_activities, compat=compat)
    dataset = SegActDataset(split, image_size, train=False, verify=verify)
    attach_cache(dataset, cache, num_workers)
    loader = make_loader(dataset, batch_size, False, 0, num_workers, False)
    for out, batch in inference_batches(model, loader, len(split), device, autocast, on_progress):
        score_batch(out, batch, tasks, lambda i: meter)
    return task_metrics(meter, tasks)


_ACTIVITY_KEYS = {"ac", "ac_overall", "f1", "confusion_activity"}


def inference_batches(
    model: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    total: int,
    device: torch.device | str,
    autocast: contextlib.AbstractContextManager | None = None,
    on_progress: ProgressFn | None = None,
) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """(model outputs, batch) for every batch, in eval mode (the previous mode is restored after)."""
    was_training = model.training
    model.eval()
    done = 0
    try:
        for batch in loader:
            with torch.no_grad(), autocast or contextlib.nullcontext():
                out = model(normalize(batch["image"].to(device)))
            yield out, batch
            done += len(batch["image"])
            if on_progress is not None:
                on_progress(done, total)
    finally:
        model.train(was_training)


def score_batch(out: dict[str, torch.Tensor], batch: dict[str, Any], tasks: list[str], meter_for: Callable) -> None:
    """Add one batch's predictions to ``meter_for(i)`` (sample i's meter): segmentation logits are
    upsampled to each frame's label resolution before the argmax (docs/model.md "Tasks and inputs")."""
    if "segmentation" in tasks:
        logits = out["segmentation"].float()
        for i, true in enumerate(batch["label_masks"]):
            up = F.interpolate(logits[i : i + 1], size=true.shape, mode="bilinear", align_corners=False)
            meter_for(i).update(up.argmax(1).cpu().numpy(), true[None])
    if "activity" in tasks:
        pred = out["activity"].float().argmax(1).cpu().numpy()
        true = batch["activity"].numpy()
        for i in range(len(pred)):
            meter_for(i).update(None, None, pred[i : i + 1], true[i : i + 1])


def task_metrics(meter: Any, tasks: list[str]) -> dict[str, Any]:
    """The meter's metrics restricted to the tasks the model was trained for."""
    return {
        k: v
        for k, v in meter.compute().items()
        if (("activity" in tasks) if k in _ACTIVITY_KEYS else ("segmentation" in tasks))
    }


def plot_confusion(matrix: np.ndarray, names: list[str], path: Path) -> None:
    """Activity confusion matrix (rows = truth) as a PNG; matplotlib imported lazily (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (r, c), v in np.ndenumerate(matrix):
        if v:
            ax.text(c, r, str(int(v)), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _dataset_version(data: str | Path) -> str:
    """The built dataset's version (manifest.json); "hub" for a Hub id (its files carry no local manifest)."""
    path = Path(data) / "manifest.json"
    if dataset_is_local(data) and path.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return str(json.loads(path.read_text())["version"]) or "unversioned"
    return "hub"


def evaluate_run(
    run: Path,
    data: str | Path,
    split: str = "test",
    compat: bool = False,
    checkpoint: str = "best",
    out: Path | None = None,
    weights: str | None = None,
    num_workers: int = 0,
    on_progress: ProgressFn | None = None,
    limit: int | None = None,
    verify: bool = True,
    cache: str = "auto",
) -> dict[str, Any]:
    """Evaluate RUN's checkpoint on ``data``/``split`` (its first ``limit`` frames if given).

    Writes ``eval/<dataset>-<version>-<split>[-compat].json`` under ``out`` (default: the RUN folder),
    so evaluations on several datasets live side by side, and copies it to ``eval.json`` (the latest),
    plus the activity confusion PNG. The returned dict (also the file content) holds ``metrics``,
    ``per_class`` (IoU/Dice by class name), the mode (``standard``/``compat``), where it came from and
    ``file``, the path of the per-dataset file.
    ``verify`` checks the dataset (manifest hashes first, frames while reading); ``cache`` as the
    ``cache`` config key.
    """
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1, got {limit}")
    dataset_is_local(data)  # a mistyped --data fails before the model is built
    loaded = load_run(Path(run), checkpoint, weights)
    split_data = _open_eval_split(data, split, limit, verify)
    check_labelmaps_compatible(loaded.labelmap, split_data.labelmap, f"{data} [{split}]")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = loaded.model.to(device)
    cfg = loaded.config
    metrics = evaluate_model(
        model,
        split_data,
        cfg.image_size,
        cfg.eval_batch_size,
        num_workers,
        compat,
        device,
        _autocast(device, cfg.amp),
        on_progress,
        cache,
        verify,
    )
    source = {"run": str(run), "checkpoint": str(loaded.checkpoint), "data": str(data), "split": split}
    result = _result(metrics, split_data, source, compat, limit, verify)
    _write_result(result, Path(out) if out is not None else Path(run), split, compat)
    return result


def _open_eval_split(data: str | Path, split: str, limit: int | None, verify: bool) -> SplitData:
    """The split to evaluate (its first ``limit`` frames), after the manifest check when ``verify``."""
    if verify:
        from endoarss.data.cache_setup import verify_dataset

        verify_dataset(data)
    split_data = open_split(data, split)
    if limit is not None and limit < len(split_data):
        split_data = replace(split_data, table=split_data.table.select(range(limit)))
    return split_data


def _autocast(device: str, amp: str) -> contextlib.AbstractContextManager | None:
    """The run's mixed precision on CUDA (as in training); full precision on CPU."""
    if device != "cuda" or amp == "none":
        return None
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _result(
    metrics: dict[str, Any],
    split_data: SplitData,
    source: dict[str, str],
    compat: bool,
    limit: int | None,
    verify: bool,
) -> dict[str, Any]:
    """The eval JSON: scalar metrics, per-class IoU/Dice by name, confusion matrix, and where it came from."""
    lm = split_data.labelmap
    per_class = {}
    if "per_class_iou" in metrics:
        scores = zip(lm.class_names, metrics["per_class_iou"], metrics["per_class_dice"], strict=True)
        per_class = {name: {"iou": iou, "dice": dice} for name, iou, dice in scores}
    scalars = {k: v for k, v in metrics.items() if not k.startswith("per_class") and k != "confusion_activity"}
    return json_safe(
        {
            "mode": "compat" if compat else "standard",
            "run": source["run"],
            "checkpoint": source["checkpoint"],
            "data": source["data"],
            "dataset": split_data.dataset,
            "version": _dataset_version(source["data"]),
            "split": source["split"],
            "frames": len(split_data),
            "limit": limit,
            "verified": verify,
            "metrics": scalars,
            "per_class": per_class,
            "confusion_activity": metrics.get("confusion_activity"),
            "activities": list(lm.activities),
        }
    )


def _write_result(result: dict[str, Any], out: Path, split: str, compat: bool) -> None:
    """Write the per-dataset file (its path goes into ``result["file"]``), eval.json and the confusion PNG."""
    name = f"{result['dataset']}-{result['version']}-{split}{'-compat' if compat else ''}.json"
    result["file"] = str(out / EVAL_DIR / re.sub(r"[^A-Za-z0-9._-]+", "_", name))
    text = json.dumps(result, indent=2) + "\n"
    atomic_write_text(Path(result["file"]), text)
    atomic_write_text(out / EVAL_FILE, text)
    if result["confusion_activity"] is not None:
        plot_confusion(np.array(result["confusion_activity"]), result["activities"], out / CONFUSION_FILE)
