"""The robustness benchmark (paper §IV-C5, docs/model.md "Robustness benchmark"): a RUN on a corrupted test split.

Every (corruption, severity) pair is applied on the fly to every test frame (:mod:`.corrupted_split`:
where the corruption happens, per-image seeds) and scored with the same
:class:`~endoarss.metrics.SegActMeter` as ``endods eval`` (masks at label resolution), next to a clean
baseline; tables and plots are written by :mod:`.results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from endoarss.config.choices import AT_MODES
from endoarss.data.dataset import SplitData, decode_record, open_split
from endoarss.engine.run_folder import LoadedRun, check_labelmaps_compatible, load_run
from endoarss.robustness.corrupted_split import (
    CLEAN,
    Condition,
    CorruptedSplit,
    corrupt_sample,
    evaluate_conditions,
    image_seed,
)
from endoarss.robustness.corruptions import CORRUPTIONS, MIN_SIZE, SEVERITIES, CorruptionError
from endoarss.robustness.outdir import check_robustness_folder
from endoarss.robustness.results import RobustnessResult, build_result, write_outputs
from schemas.progress import ProgressFn

GALLERY_SEVERITIES = (1, 3, 5)


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
    names, levels = _checked_options(corruptions, severities, at, limit)
    out = check_robustness_folder(Path(run) / "robustness" if out is None else out, overwrite, [run], sealed=[data])
    loaded = load_run(Path(run), checkpoint, weights)
    cfg = loaded.config
    image_size = _input_size(run, cfg.image_size, at)
    split_data = _open_split(loaded, data, split, limit)
    conditions: list[Condition] = [(CLEAN, 0)] + [(n, s) for n in names for s in levels]
    dataset = CorruptedSplit(split_data, image_size, conditions, at, seed, cfg.cache)
    workers = cfg.num_workers if num_workers is None else num_workers
    scores = _score(loaded, dataset, batch_size or cfg.eval_batch_size, workers, compat, on_progress)
    info = {"run": str(run), "checkpoint": str(loaded.checkpoint), "data": str(data)}
    info |= {"dataset": split_data.dataset, "split": split, "frames": len(split_data), "at": at}
    info |= {"image_size": list(image_size), "seed": seed}
    result = build_result(conditions, scores, "compat" if compat else "standard", info)
    gallery = _gallery_frame(split_data, names, gallery_severities(levels), image_size, at, seed)
    return write_outputs(result, out, gallery, overwrite)


def _checked_options(
    corruptions: Sequence[str] | None, severities: Sequence[int], at: str, limit: int | None
) -> tuple[list[str], list[int]]:
    """The corruption names (paper order) and sorted severities; bad options fail before any file work."""
    names = parse_corruptions(",".join(corruptions)) if corruptions is not None else list(CORRUPTIONS)
    levels = sorted({int(s) for s in severities})
    if not levels or any(s not in SEVERITIES for s in levels):
        raise CorruptionError(f"severities must lie in 1..5, got {list(severities)}")
    if at not in AT_MODES:
        raise CorruptionError(f"at must be one of {AT_MODES}, got {at!r}")
    if limit is not None and limit < 1:
        raise CorruptionError(f"limit must be >= 1, got {limit}")
    return names, levels


def _input_size(run: Path, image_size: Sequence[int], at: str) -> tuple[int, ...]:
    """The run's model input size; at="input" needs it at least the corruptions' minimum."""
    size = tuple(image_size)
    if at == "input" and min(size) < MIN_SIZE:
        raise CorruptionError(
            f"{run}: model input {size[0]}x{size[1]} is below the corruptions' {MIN_SIZE}x{MIN_SIZE}; use at='native'"
        )
    return size


def _open_split(loaded: LoadedRun, data: str | Path, split: str, limit: int | None) -> SplitData:
    """``data``/``split`` (its first ``limit`` frames if given), checked against the run's label map."""
    split_data = open_split(data, split)
    check_labelmaps_compatible(loaded.labelmap, split_data.labelmap, f"{data} [{split}]")
    if limit is not None and limit < len(split_data):
        table = split_data.table.select(range(limit))
        split_data = SplitData(table, split_data.labelmap, split_data.dataset, split_data.source, split_data.split)
    return split_data


def _score(
    loaded: LoadedRun,
    dataset: CorruptedSplit,
    batch_size: int,
    num_workers: int,
    compat: bool,
    on_progress: ProgressFn | None,
) -> list[dict[str, Any]]:
    """Per-condition metrics of the run's model, on the GPU (with the run's autocast) when there is one."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    autocast = None
    if device == "cuda" and loaded.config.amp != "none":
        autocast = torch.autocast("cuda", dtype=torch.bfloat16 if loaded.config.amp == "bf16" else torch.float16)
    lm = dataset.data.labelmap
    model = loaded.model.to(device)
    return evaluate_conditions(
        model,
        dataset,
        lm.num_classes,
        lm.num_activities,
        batch_size,
        num_workers,
        compat,
        device,
        autocast,
        on_progress,
    )


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
