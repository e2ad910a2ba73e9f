"""One pass over a built dataset: every statistic of the report, the perceptual hashes, and the thumbnails.

Each record is decoded exactly once (image and mask); everything later (figures, overlays, leakage)
works from what this pass keeps: counts, 64-bit hashes, and small thumbnails of the frames chosen for
the contact sheets (chosen up front from the manifest, so memory does not grow with the dataset).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from endods.errors import DatasetError
from endods.pngio import PngError, decode_png
from endods.report.leakage import dhash
from schemas.dataset import BuiltDataset, Record
from schemas.labelmaps import IGNORE_INDEX
from schemas.progress import ProgressFn
from schemas.records import natural_key

THUMB_WIDTH = 320
# (pixel counts per value 0..255, "WxH", dHash, (thumbnail image, thumbnail mask) or None)
Analysed = tuple[np.ndarray, str, np.ndarray, tuple[np.ndarray, np.ndarray] | None]


@dataclass
class Thumb:
    frame_id: str
    split: str
    activity: int
    image: np.ndarray  # RGB, THUMB_WIDTH wide
    mask: np.ndarray  # class ids, same size (nearest)


@dataclass
class Collected:
    splits: list[str]
    activities: list[str]
    class_names: list[str]
    frames: dict[str, int] = field(default_factory=dict)
    activity_counts: dict[str, list[int]] = field(default_factory=dict)
    class_pixels: dict[str, np.ndarray] = field(default_factory=dict)  # (num_classes,) per split
    ignore_pixels: dict[str, int] = field(default_factory=dict)
    class_images: dict[str, np.ndarray] = field(default_factory=dict)  # images containing each class
    cooccurrence: np.ndarray | None = None  # (activities, classes): frames of the activity showing the class
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    sizes: dict[str, Counter] = field(default_factory=dict)
    hash_ids: dict[str, list[str]] = field(default_factory=dict)
    hashes: dict[str, np.ndarray] = field(default_factory=dict)
    thumbs: dict[str, Thumb] = field(default_factory=dict)


def pick_overlay_frames(ds: BuiltDataset, per_activity: int) -> set[str]:
    """Up to `per_activity` frames per activity, evenly spaced over its frames in natural id order."""
    by_activity: dict[str, list[str]] = defaultdict(list)
    for frame_id, info in ds.manifest.frames.items():
        by_activity[str(info.get("activity"))].append(frame_id)
    chosen: set[str] = set()
    for ids in by_activity.values():
        ids.sort(key=natural_key)
        positions = np.unique(np.linspace(0, len(ids) - 1, min(per_activity, len(ids))).round().astype(int))
        chosen.update(ids[int(i)] for i in positions)
    return chosen


def thumbnail(image: np.ndarray, mask: np.ndarray, width: int = THUMB_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Area-averaged image and nearest-neighbour mask (class ids must not blend) at `width` pixels."""
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return small, cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def decode_record(ds: BuiltDataset, frame_id: str, image: bytes, mask: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, class-id mask); a record that does not decode is a DatasetError naming the frame."""
    try:
        rgb = cv2.cvtColor(decode_png(image, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        ids = decode_png(mask, cv2.IMREAD_UNCHANGED)
    except PngError as exc:
        raise DatasetError(f"{ds.path}: frame {frame_id} does not decode ({exc})") from exc
    if ids.ndim != 2 or ids.shape != rgb.shape[:2]:
        raise DatasetError(f"{ds.path}: frame {frame_id}: mask shape {ids.shape} does not match image {rgb.shape[:2]}")
    return rgb, ids


def _analyse(ds: BuiltDataset, rec: Record, want_thumb: bool) -> Analysed:
    """Decode one record and reduce it to what the report keeps (runs in a worker thread)."""
    rgb, mask = decode_record(ds, rec.frame_id, rec.image, rec.mask)
    counts = np.bincount(mask.ravel(), minlength=256)
    thumb = thumbnail(rgb, mask) if want_thumb else None
    return counts, f"{rgb.shape[1]}x{rgb.shape[0]}", dhash(rgb), thumb


def _analysed(ds: BuiltDataset, split: str, wanted: set[str], workers: int) -> Iterator[tuple[Record, Analysed]]:
    """Records of a split with their analysis, in order; PNG decoding releases the GIL, so threads
    give real parallelism without pickling, and a bounded window keeps memory flat."""
    window = max(1, workers) * 4
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[tuple[Record, Future[Analysed]]] = deque()
        for rec in ds.records(split):
            pending.append((rec, pool.submit(_analyse, ds, rec, rec.frame_id in wanted)))
            if len(pending) >= window:
                rec0, fut = pending.popleft()
                yield rec0, fut.result()
        while pending:
            rec0, fut = pending.popleft()
            yield rec0, fut.result()


def collect(
    ds: BuiltDataset,
    overlay_per_activity: int = 12,
    on_progress: ProgressFn | None = None,
    workers: int | None = None,
    verify: bool = True,
) -> Collected:
    """Single pass over every split; `workers` decoding threads (default: CPU count, at most 8).

    Mask values outside the label map are always refused (the statistics would be wrong);
    ``verify`` also refuses images that are not PNG (a JPEG decodes, but breaks the contract).
    """
    workers = workers or min(8, os.cpu_count() or 1)
    labelmap = ds.labelmap
    data = Collected(ds.splits, list(labelmap.activities), labelmap.class_names)
    data.cooccurrence = np.zeros((labelmap.num_activities, labelmap.num_classes), np.int64)
    wanted = pick_overlay_frames(ds, overlay_per_activity)
    total = sum(ds.num_rows(s) for s in data.splits)
    done = 0
    if on_progress:
        on_progress(0, total)

    def frame_done() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)

    groups: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in data.splits})
    for split in data.splits:
        _collect_split(ds, data, split, _analysed(ds, split, wanted, workers), groups, verify, frame_done)
    data.groups = {g: groups[g] for g in sorted(groups, key=natural_key)}
    return data


def _check_record(ds: BuiltDataset, rec: Record, counts: np.ndarray, verify: bool) -> None:
    """Refuse mask values outside the label map; with ``verify``, images that are not PNG."""
    if verify and not rec.image.startswith(b"\x89PNG\r\n\x1a\n"):
        raise DatasetError(
            f"{ds.path}: frame {rec.frame_id}: image is not a PNG (starts {rec.image[:8]!r}); rebuild the "
            "dataset (or pass --no-verify)"
        )
    n_cls = ds.labelmap.num_classes
    bad_values = np.flatnonzero(counts[n_cls:IGNORE_INDEX]) + n_cls
    if bad_values.size:
        bad = int(bad_values[0])
        raise DatasetError(f"{ds.path}: frame {rec.frame_id}: mask value {bad} is outside the label map")


def _collect_split(
    ds: BuiltDataset,
    data: Collected,
    split: str,
    analysed: Iterator[tuple[Record, Analysed]],
    groups: dict[str, dict[str, int]],
    verify: bool,
    frame_done: Callable[[], None],
) -> None:
    """Add one split's counts, sizes, hashes and thumbnails to `data` (and its frames to `groups`)."""
    n_cls, n_act = ds.labelmap.num_classes, ds.labelmap.num_activities
    assert data.cooccurrence is not None
    acts, pixels, images = [0] * n_act, np.zeros(256, np.int64), np.zeros(n_cls, np.int64)
    sizes: Counter = Counter()
    ids: list[str] = []
    hashes: list[np.ndarray] = []
    for rec, (counts, size, frame_hash, thumb) in analysed:
        _check_record(ds, rec, counts, verify)
        present = counts[:n_cls] > 0
        acts[rec.activity] += 1
        pixels += counts
        images += present
        data.cooccurrence[rec.activity] += present
        groups[rec.group][split] += 1
        sizes[size] += 1
        ids.append(rec.frame_id)
        hashes.append(frame_hash)
        if thumb is not None:
            data.thumbs[rec.frame_id] = Thumb(rec.frame_id, split, rec.activity, *thumb)
        frame_done()
    data.frames[split] = len(ids)
    data.activity_counts[split] = acts
    data.class_pixels[split] = pixels[:n_cls]
    data.ignore_pixels[split] = int(pixels[IGNORE_INDEX])
    data.class_images[split] = images
    data.sizes[split] = sizes
    data.hash_ids[split] = ids
    data.hashes[split] = np.stack(hashes) if hashes else np.zeros((0, 8), np.uint8)


def stats_json(data: Collected, extra: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable half of the report (stats.json); the HTML shows the same numbers."""
    per_split: dict[str, Any] = {}
    for s in data.splits:
        pixels = data.class_pixels[s]
        labelled = int(pixels.sum())
        per_split[s] = {
            "frames": data.frames[s],
            "activities": dict(zip(data.activities, data.activity_counts[s], strict=True)),
            "class_pixels": dict(zip(data.class_names, (int(v) for v in pixels), strict=True)),
            "class_pixel_share": {
                n: (float(v) / labelled if labelled else 0.0) for n, v in zip(data.class_names, pixels, strict=True)
            },
            "class_image_frequency": {
                n: (int(v) / data.frames[s] if data.frames[s] else 0.0)
                for n, v in zip(data.class_names, data.class_images[s], strict=True)
            },
            "class_images": dict(zip(data.class_names, (int(v) for v in data.class_images[s]), strict=True)),
            "ignore_pixels": data.ignore_pixels[s],
            "image_sizes": dict(sorted(data.sizes[s].items())),
        }
    assert data.cooccurrence is not None
    return {
        **extra,
        "splits": per_split,
        "activity_class_cooccurrence": {
            a: dict(zip(data.class_names, (int(v) for v in row), strict=True))
            for a, row in zip(data.activities, data.cooccurrence, strict=True)
        },
        "groups": data.groups,
    }
