"""The robustness benchmark (paper §IV-C5, docs/model.md "Robustness benchmark"): a RUN on a corrupted test split.

Every (corruption, severity) pair is applied on the fly to every test frame and scored with the same
:class:`~endoarss.metrics.SegActMeter` as ``endods eval`` (masks at label resolution), next to a clean
baseline. Where the corruption happens:

- ``at="input"`` (default, as the paper's release does): the uint8 RGB frame is first resized to the
  model's input size, then corrupted, then normalised. ``elastic_transform`` is the only corruption
  that moves geometry; its displacement field, drawn at input resolution, is resampled to the label
  resolution (and scaled to its pixels) so the label mask moves with the image.
- ``at="native"``: the frame is corrupted at its stored resolution (mask warped by ``corrupt_pair``),
  then resized to the model input.

Corruption runs in DataLoader workers (a Dataset that corrupts in ``__getitem__``). Each image's seed
is a hash of (seed, frame_id, corruption, severity), so results do not depend on the worker count or
batch size, and two runs give the same numbers. Items are ordered condition by condition, so a batch
may mix conditions; each prediction is routed to its condition's meter.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from endoarss.data.augment import resize_image
from endoarss.data.dataset import SegActDataset, SplitData, collate, decode_record, open_split, usable_workers
from endoarss.engine.run_folder import check_labelmaps_compatible, load_run
from endoarss.robustness import imagenet_c
from endoarss.robustness.corruptions import CORRUPTIONS, MIN_SIZE, SEVERITIES, CorruptionError, corrupt, corrupt_pair
from endoarss.robustness.outdir import check_robustness_folder
from endoarss.robustness.results import RobustnessResult, build_result, write_outputs
from schemas.progress import ProgressFn

CLEAN = "clean"
AT_MODES = ("input", "native")
GALLERY_SEVERITIES = (1, 3, 5)
Condition = tuple[str, int]  # (corruption name, severity); (CLEAN, 0) is the baseline


def parse_severities(text: str) -> list[int]:
    """``"1-5"``, ``"3"`` or ``"1,3,5"`` (ranges and lists may mix: ``"1-2,5"``) → sorted unique severities."""
    values: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        try:
            lo, hi = (int(x) for x in part.split("-", 1)) if "-" in part else (int(part), int(part))
        except ValueError:
            raise CorruptionError(f"severities must look like 1-5 or 1,3,5, got {text!r}") from None
        where = "" if part == str(text).strip() else f" in {text!r}"
        if lo not in SEVERITIES or hi not in SEVERITIES:
            raise CorruptionError(f"severities must lie in 1..5, got {part!r}{where}")
        if lo > hi:
            raise CorruptionError(f"severities range {part!r}{where} is reversed: write {hi}-{lo}")
        values.update(range(lo, hi + 1))
    return sorted(values)


def parse_corruptions(text: str | None) -> list[str]:
    """Comma-separated corruption names (None or "all" = every corruption), in the paper's order."""
    if text is None or text.strip() in ("", "all"):
        return list(CORRUPTIONS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise CorruptionError(f"unknown corruption(s) {unknown}; valid names: {', '.join(CORRUPTIONS)}")
    return [n for n in CORRUPTIONS if n in names]


def image_seed(seed: int, frame_id: str, corruption: str, severity: int) -> int:
    """Per-image corruption seed in [0, 2**32): stable across processes (unlike ``hash``)."""
    key = f"{seed}\0{frame_id}\0{corruption}\0{severity}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little")


def _resample_field(field: tuple[np.ndarray, np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A displacement field (dy, dx) in pixels of one grid, expressed on a grid of ``shape`` (H, W)."""
    import cv2

    dy, dx = field
    if dy.shape == tuple(shape):
        return dy, dx
    size = (shape[1], shape[0])
    sy, sx = shape[0] / dy.shape[0], shape[1] / dy.shape[1]
    return (
        cv2.resize(dy, size, interpolation=cv2.INTER_LINEAR) * sy,
        cv2.resize(dx, size, interpolation=cv2.INTER_LINEAR) * sx,
    )


def corrupt_sample(
    image: np.ndarray,
    mask: np.ndarray,
    condition: Condition,
    image_size: tuple[int, int],
    at: str,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(model-input image, label-resolution mask) of one frame under ``condition``; see the module docstring."""
    name, severity = condition
    if name == CLEAN:
        return resize_image(image, image_size), mask
    if at == "native":
        image, mask = corrupt_pair(image, mask, name, severity, seed)
        return resize_image(image, image_size), mask
    small = resize_image(image, image_size)
    out = corrupt(small, name, severity, seed)
    if name == "elastic_transform":
        field = _resample_field(imagenet_c.elastic_field(small.shape[:2], severity, seed), mask.shape)
        mask = imagenet_c.warp(mask, field, order=0).astype(mask.dtype, copy=False)
    return out, mask


class CorruptedSplit(Dataset):
    """Items ``condition_index * frames + frame``: a frame under one condition, as evaluation batches hold it."""

    def __init__(
        self,
        data: SplitData,
        image_size: tuple[int, int],
        conditions: Sequence[Condition],
        at: str,
        seed: int,
        cache: str = "off",
    ) -> None:
        self.data = data
        self.image_size = tuple(image_size)
        self.conditions = list(conditions)
        self.at = at
        self.seed = seed
        self.frames = len(data)
        # at="input" corrupts the frame resized to the model input: exactly the evaluation arrays, which
        # the decoded-sample cache holds (at="native" needs the stored resolution, so it decodes).
        self.inputs = SegActDataset(data, image_size, train=False) if at == "input" else None
        if self.inputs is not None:
            from endoarss.data.cache_setup import attach_cache

            attach_cache(self.inputs, cache)

    def __len__(self) -> int:
        return self.frames * len(self.conditions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        which, frame = divmod(int(index), self.frames)
        if self.inputs is not None:
            image, mask = self.inputs.arrays(frame)
            activity, frame_id = self.inputs.activities[frame], self.inputs.frame_ids[frame]
        else:
            row = self.data.table[frame]
            (image, mask), activity, frame_id = decode_record(row), row["activity"], row["frame_id"]
        name, severity = self.conditions[which]
        seed = image_seed(self.seed, str(frame_id), name, severity)
        image, mask = corrupt_sample(image, np.array(mask), (name, severity), self.image_size, self.at, seed)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "label_mask": mask,
            "activity": int(activity),
            "frame_id": frame_id,
            "condition": which,
        }


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    batch = collate(items)
    batch["condition"] = [it["condition"] for it in items]
    return batch


@torch.no_grad()
def evaluate_conditions(
    model: torch.nn.Module,
    dataset: CorruptedSplit,
    num_classes: int,
    num_activities: int,
    batch_size: int = 16,
    num_workers: int = 0,
    compat: bool = False,
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager | None = None,
    on_progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """One metrics dict per condition of ``dataset`` (scoring as in :func:`endoarss.inference.evaluate.evaluate_model`)."""
    from endoarss.inference.evaluate import inference_batches, score_batch, task_metrics
    from endoarss.metrics import SegActMeter

    tasks = list(getattr(model, "tasks", ()))
    meters = [SegActMeter(num_classes, num_activities, compat=compat) for _ in dataset.conditions]
    workers = usable_workers(num_workers)  # capped at the CPUs: torch warns (twice) above that
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate)
    for out, batch in inference_batches(model, loader, len(dataset), device, autocast, on_progress):
        score_batch(out, batch, tasks, lambda i, c=batch["condition"]: meters[c[i]])
    return [task_metrics(m, tasks) for m in meters]


def run_robustness(
    run: Path,
    data: str | Path,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    limit: int | None = None,
    split: str = "test",
    at: str = "input",
    seed: int = 0,
    num_workers: int | None = None,
    batch_size: int | None = None,
    compat: bool = False,
    checkpoint: str = "best",
    weights: str | None = None,
    out: Path | None = None,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
) -> RobustnessResult:
    """Benchmark RUN on ``data``/``split`` under corruptions × severities; write tables and plots.

    Files go to ``out`` (default ``RUN/robustness``), replaced as a whole: robustness.csv/.json/.md,
    severity_<metric>.png, corruptions_<metric>.png and gallery.png (see :mod:`.results`). An existing
    ``out`` must be a previous robustness output, or ``overwrite`` set (:func:`.outdir.check_robustness_folder`).
    ``num_workers``/``batch_size`` default to the run's config. ``on_progress(done, total)`` counts
    frames over every condition, the clean baseline included.
    """
    names = parse_corruptions(",".join(corruptions)) if corruptions is not None else list(CORRUPTIONS)
    levels = sorted({int(s) for s in severities})
    if not levels or any(s not in SEVERITIES for s in levels):
        raise CorruptionError(f"severities must lie in 1..5, got {list(severities)}")
    if at not in AT_MODES:
        raise CorruptionError(f"at must be one of {AT_MODES}, got {at!r}")
    if limit is not None and limit < 1:
        raise CorruptionError(f"limit must be >= 1, got {limit}")
    out = check_robustness_folder(Path(run) / "robustness" if out is None else out, overwrite, [run], sealed=[data])
    loaded = load_run(Path(run), checkpoint, weights)
    cfg = loaded.config
    image_size = tuple(cfg.image_size)
    if at == "input" and min(image_size) < MIN_SIZE:
        raise CorruptionError(
            f"{run}: model input {image_size[0]}x{image_size[1]} is below the corruptions' {MIN_SIZE}x{MIN_SIZE}; "
            "use at='native'"
        )
    split_data = open_split(data, split)
    check_labelmaps_compatible(loaded.labelmap, split_data.labelmap, f"{data} [{split}]")
    if limit is not None and limit < len(split_data):
        table = split_data.table.select(range(limit))
        split_data = SplitData(table, split_data.labelmap, split_data.dataset, split_data.source, split_data.split)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    autocast = None
    if device == "cuda" and cfg.amp != "none":
        autocast = torch.autocast("cuda", dtype=torch.bfloat16 if cfg.amp == "bf16" else torch.float16)
    conditions: list[Condition] = [(CLEAN, 0)] + [(n, s) for n in names for s in levels]
    dataset = CorruptedSplit(split_data, image_size, conditions, at, seed, cfg.cache)
    lm = split_data.labelmap
    scores = evaluate_conditions(
        loaded.model.to(device),
        dataset,
        lm.num_classes,
        lm.num_activities,
        batch_size or cfg.eval_batch_size,
        cfg.num_workers if num_workers is None else num_workers,
        compat,
        device,
        autocast,
        on_progress,
    )
    info = {
        "run": str(run),
        "checkpoint": str(loaded.checkpoint),
        "data": str(data),
        "dataset": split_data.dataset,
        "split": split,
        "frames": len(split_data),
        "at": at,
        "image_size": list(image_size),
        "seed": seed,
    }
    result = build_result(conditions, scores, "compat" if compat else "standard", info)
    gallery = _gallery_frame(split_data, names, gallery_severities(levels), image_size, at, seed)
    return write_outputs(result, out, gallery, overwrite)


def gallery_severities(levels: Sequence[int]) -> list[int]:
    """The benchmarked severities the gallery shows: all of them when at most 3, else 1, 3, 5 among them."""
    levels = sorted(set(levels))
    if len(levels) <= len(GALLERY_SEVERITIES):
        return levels
    return [s for s in GALLERY_SEVERITIES if s in levels] or levels[:: max(1, len(levels) // 3)][:3]


def _gallery_frame(
    split: SplitData, names: list[str], severities: list[int], image_size: tuple[int, int], at: str, seed: int
) -> dict[Condition, np.ndarray]:
    """The first frame exactly as the model saw it: clean and under each corruption at `severities`."""
    row = split.table[0]
    image, mask = decode_record(row)
    shots: dict[Condition, np.ndarray] = {}
    for condition in [(CLEAN, 0)] + [(n, s) for n in names for s in severities]:
        frame_seed = image_seed(seed, str(row["frame_id"]), *condition)
        shots[condition] = corrupt_sample(image, mask, condition, image_size, at, frame_seed)[0]
    return shots
