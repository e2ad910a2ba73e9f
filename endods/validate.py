"""Re-open a built dataset and check it against the contract; every problem names frame and file."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from endods.pngio import PngError, decode_png, png_info
from endods.writer import split_num_bytes
from schemas.dataset import changed_outputs, open_dataset
from schemas.labelmaps import IGNORE_INDEX
from schemas.progress import ProgressFn
from schemas.records import build_features


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    frame_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.frame_id} ({self.file})" if self.frame_id else self.file
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {"frame_id": self.frame_id, "file": self.file, "message": self.message}


def validate_dataset(out: Path, on_progress: ProgressFn | None = None) -> list[Problem]:
    """All contract violations of OUT (empty list = valid). Raises DatasetError if OUT cannot be opened."""
    ds = open_dataset(out)
    problems = _check_outputs(ds.path, ds.manifest.outputs)
    if ds.manifest.version != ds.manifest.compute_version():
        problems.append(Problem("manifest.json", f"version {ds.manifest.version} does not match its outputs"))
    if not ds.splits:
        problems.append(Problem("data/", "no Parquet files: the dataset has no frames"))
    expected_schema = build_features(ds.labelmap).arrow_schema
    seen: dict[str, str] = {}
    groups: dict[str, set[str]] = defaultdict(set)
    readable = [s for s in ds.splits if not _unreadable(ds, s, problems)]
    total = sum(ds.num_rows(s) for s in readable)
    done = 0
    for split in readable:
        for path in ds.parquet_files(split):
            schema = pq.read_schema(path)
            if not schema.equals(expected_schema, check_metadata=False):
                problems.append(Problem(_rel(ds.path, path), f"schema differs from the contract: {schema}"))
                continue
        counts = np.zeros(ds.labelmap.num_classes, np.int64)
        activities = dict.fromkeys(ds.labelmap.activities, 0)
        frames = 0
        for rec in ds.records(split):
            done += 1
            frames += 1
            file = f"data/{split}-*.parquet"
            if rec.frame_id in seen:
                problems.append(Problem(file, f"frame also in split {seen[rec.frame_id]!r}", rec.frame_id))
            seen[rec.frame_id] = split
            groups[rec.group].add(split)
            if 0 <= rec.activity < ds.labelmap.num_activities:
                activities[ds.labelmap.activities[rec.activity]] += 1
            problems += _check_record(rec, split, ds, counts, file)
            if on_progress:
                on_progress(done, total)
        problems += _check_counts(ds, split, frames, counts, activities)
    if ds.manifest.options.get("split") == "group":
        for group, splits in sorted(groups.items()):
            if len(splits) > 1:
                problems.append(Problem("manifest.json", f"group {group!r} is in both splits (group split mode)"))
    unread = set(ds.splits) - set(readable)  # their frames are already covered by the unreadable-file problem
    missing = {f for f, e in ds.manifest.frames.items() if f not in seen and e.get("split") not in unread}
    problems += [Problem("manifest.json", "listed in the manifest but not in any split", f) for f in sorted(missing)]
    return problems


def _unreadable(ds, split: str, problems: list[Problem]) -> bool:  # noqa: ANN001
    """True (and a Problem naming the file) when a Parquet file of ``split`` cannot be read at all."""
    for path in ds.parquet_files(split):
        try:
            pq.ParquetFile(path).metadata  # noqa: B018 - reading the footer is the check
        except (OSError, pa.ArrowException) as exc:
            problems.append(Problem(_rel(ds.path, path), f"not a readable Parquet file ({exc}); rebuild the dataset"))
            return True
    return False


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _check_outputs(root: Path, outputs: dict[str, str]) -> list[Problem]:
    return [Problem(file, message) for file, message in changed_outputs(root, outputs)]


def _check_record(rec, split: str, ds, counts: np.ndarray, file: str) -> list[Problem]:  # noqa: ANN001
    problems: list[Problem] = []
    fid = rec.frame_id
    try:
        info = png_info(rec.image)
        image = decode_png(rec.image, cv2.IMREAD_UNCHANGED)
    except PngError as exc:
        return [Problem(file, f"image does not decode: {exc}", fid)]
    if image.ndim != 3 or image.shape[2] != 3:
        problems.append(
            Problem(file, f"image is not RGB (shape {image.shape}, PNG colour type {info.color_type})", fid)
        )
    try:
        mask = decode_png(rec.mask, cv2.IMREAD_UNCHANGED)
    except PngError as exc:
        return problems + [Problem(file, f"mask does not decode: {exc}", fid)]
    if mask.ndim != 2 or mask.dtype != np.uint8:
        return problems + [Problem(file, f"mask is not single-channel 8-bit (shape {mask.shape})", fid)]
    if mask.shape != image.shape[:2]:
        problems.append(Problem(file, f"mask {mask.shape[::-1]} and image {image.shape[1::-1]} sizes differ", fid))
    hist = np.bincount(mask.ravel(), minlength=256)
    n = ds.labelmap.num_classes
    bad = [v for v in np.flatnonzero(hist) if v >= n and v != IGNORE_INDEX]
    if bad:
        problems.append(Problem(file, f"mask values {bad} outside the label map (0..{n - 1}, {IGNORE_INDEX})", fid))
    counts += hist[:n]
    if not 0 <= rec.activity < ds.labelmap.num_activities:
        problems.append(Problem(file, f"activity id {rec.activity} out of range", fid))
    entry = ds.manifest.frames.get(fid)
    if entry is None:
        problems.append(Problem("manifest.json", "frame not listed in manifest frames", fid))
    else:
        if entry.get("split") != split:
            problems.append(
                Problem("manifest.json", f"manifest says split {entry.get('split')!r}, data says {split!r}", fid)
            )
        if entry.get("group") != rec.group:
            problems.append(
                Problem("manifest.json", f"manifest group {entry.get('group')!r} != data {rec.group!r}", fid)
            )
        name = ds.labelmap.activities[rec.activity] if 0 <= rec.activity < ds.labelmap.num_activities else None
        if entry.get("activity") != name:
            problems.append(
                Problem("manifest.json", f"manifest activity {entry.get('activity')!r} != data {name!r}", fid)
            )
    return problems


def _check_counts(ds, split: str, frames: int, counts: np.ndarray, activities: dict[str, int]) -> list[Problem]:  # noqa: ANN001, E501
    expected = ds.manifest.counts.get(split)
    if expected is None:
        return [Problem("manifest.json", f"no counts for split {split!r}")]
    problems = []
    if expected.frames != frames:
        problems.append(
            Problem("manifest.json", f"{split}: manifest counts {expected.frames} frames, data has {frames}")
        )
    got = {str(i): int(c) for i, c in enumerate(counts)}
    if expected.class_pixels != got:
        problems.append(Problem("manifest.json", f"{split}: class pixel counts differ from the data"))
    if expected.num_bytes and expected.num_bytes != split_num_bytes(ds.parquet_files(split)):
        problems.append(Problem("manifest.json", f"{split}: num_bytes {expected.num_bytes} differs from the data"))
    if expected.activities != activities:
        diff = {a: (expected.activities.get(a), n) for a, n in activities.items() if expected.activities.get(a) != n}
        problems.append(
            Problem("manifest.json", f"{split}: activity counts differ from the data (manifest, data): {diff}")
        )
    return problems
