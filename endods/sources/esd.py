"""ESD source (docs/formats.md §4.2): videos, phase intervals and COCO masks → a per-video extraction plan.

Everything here runs before any pixel is decoded, so every input-level error (missing files,
overlapping phases, unknown categories, unreadable videos) surfaces before per-frame work, and
frames outside the selected phases are dropped without touching the video (§5.5 check order).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from endods.errors import SourceError
from endods.sources.coco import CocoImage, CocoMasks
from schemas.labelmaps import ESD_PHASES, MTLESD

PHASES_NAME = "phases.csv"
COCO_NAME = "annotations.json"
VIDEOS_DIR = "videos"
VIDEO_SUFFIXES = (".mp4", ".avi")
PHASE_COLUMNS = ("video_id", "phase", "start_frame", "end_frame")


@dataclass(frozen=True)
class PhaseInterval:
    """Frames start..end (inclusive, 0-based) of one video are in `phase`; `line` is the csv line."""

    video_id: str
    phase: str
    start: int
    end: int
    line: int

    def __str__(self) -> str:
        return f"{self.phase} [{self.start}, {self.end}] (line {self.line})"


@dataclass(frozen=True)
class PlannedFrame:
    """A COCO image in a selected phase: decoded from its video in the single pass."""

    image: CocoImage
    phase: str
    activity: int


@dataclass
class EsdPlan:
    """What to extract per video (sorted by frame index) and what was filtered out beforehand."""

    videos: dict[str, Path]
    frames: dict[str, list[PlannedFrame]]
    coco: CocoMasks
    drops: list[tuple[str, str, str]] = field(default_factory=list)  # (frame_id, reason, source-relative path)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.frames.values())


def read_phases(path: Path) -> dict[str, list[PhaseInterval]]:
    """Parse phases.csv; unknown phases, bad numbers and overlapping intervals of a video are errors."""
    if not path.is_file():
        raise SourceError(f"phase file {path} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from spreadsheet exports is fine
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start}); save phases.csv as UTF-8") from None
    by_video: dict[str, list[PhaseInterval]] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != PHASE_COLUMNS:
        raise SourceError(f"{path}: header must be {','.join(PHASE_COLUMNS)}, got {header}")
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            raise SourceError(f"{path}: line {line} must have 4 columns: {','.join(row)}")
        video_id, phase, start, end = (c.strip() for c in row)
        if phase not in ESD_PHASES:
            raise SourceError(f"{path}: line {line} has unknown phase {phase!r}; known: {list(ESD_PHASES)}")
        try:
            interval = PhaseInterval(video_id, phase, int(start), int(end), line)
        except ValueError:
            raise SourceError(f"{path}: line {line} has non-integer frames: {','.join(row)}") from None
        if interval.start < 0 or interval.end < interval.start:
            raise SourceError(f"{path}: line {line} has an empty or negative interval: {','.join(row)}")
        by_video.setdefault(video_id, []).append(interval)
    for video_id, intervals in by_video.items():
        intervals.sort(key=lambda i: (i.start, i.end))
        for a, b in zip(intervals, intervals[1:], strict=False):
            if b.start <= a.end:
                raise SourceError(f"{path}: video {video_id} has overlapping phase intervals {a} and {b}")
    return by_video


def phase_at(intervals: Sequence[PhaseInterval], frame_index: int) -> str | None:
    """The phase covering a frame, or None (intervals do not overlap, so at most one matches)."""
    for interval in intervals:
        if interval.start <= frame_index <= interval.end:
            return interval.phase
    return None


def find_video(root: Path, video_id: str) -> Path:
    """videos/<video_id>.mp4 or .avi; a referenced video that is absent is an error naming the path."""
    folder = root / VIDEOS_DIR
    for suffix in VIDEO_SUFFIXES:
        candidate = folder / f"{video_id}{suffix}"
        # The id comes from the data: "../x" or "/abs/x" must not open a video outside --src.
        if not Path(os.path.abspath(candidate)).is_relative_to(os.path.abspath(folder)) or "\x00" in video_id:
            raise SourceError(
                f"video_id {video_id!r} points outside {folder}: videos are read only from there "
                "(fix the video_id in phases.csv/annotations.json)"
            )
        if candidate.is_file():
            return candidate
    looked = " or ".join(str(folder / f"{video_id}{s}") for s in VIDEO_SUFFIXES)
    raise SourceError(f"video {video_id!r} is referenced but missing: looked for {looked}")


def open_video(path: Path) -> cv2.VideoCapture:
    """cv2.VideoCapture; FFmpeg's own log lines are silenced when `endods` is imported (see endods/__init__.py)."""
    return cv2.VideoCapture(str(path))


def probe_video(path: Path) -> None:
    """Open the video and decode its first frame: unopenable or zero-frame videos are input errors."""
    capture = open_video(path)
    try:
        if not capture.isOpened():
            raise SourceError(f"video {path} cannot be opened (not a video OpenCV can decode, or empty)")
        if not capture.grab():
            raise SourceError(f"video {path} decodes zero frames")
    finally:
        capture.release()


def check_layout(root: Path) -> None:
    """--src must be a folder holding videos/, phases.csv and annotations.json."""
    if not root.is_dir():
        raise SourceError(f"ESD source folder {root} does not exist")
    for name in (VIDEOS_DIR, PHASES_NAME, COCO_NAME):
        if not (root / name).exists():
            raise SourceError(f"ESD source {root} has no {name} (looked for {root / name})")


def plan_esd(root: Path, activities: Sequence[str], probe: bool = True) -> EsdPlan:
    """Run every input-level check, then sort COCO images into per-video plans and listed drops."""
    root = Path(root)
    check_layout(root)
    phases = read_phases(root / PHASES_NAME)
    coco = CocoMasks(root / COCO_NAME, MTLESD.num_classes)
    video_ids = sorted(set(phases) | {img.video_id for img in coco.images.values()})
    videos = {vid: find_video(root, vid) for vid in video_ids}
    if probe:
        for path in videos.values():
            probe_video(path)
    plan = EsdPlan(videos=videos, frames={vid: [] for vid in video_ids}, coco=coco)
    selected = {name: i for i, name in enumerate(activities)}
    for image in sorted(coco.images.values(), key=lambda im: (im.video_id, im.frame_index)):
        phase = phase_at(phases.get(image.video_id, ()), image.frame_index)
        if phase is None:
            plan.drops.append((image.frame_id, "no_phase", PHASES_NAME))
        elif phase not in selected:
            plan.drops.append((image.frame_id, "phase_not_selected", PHASES_NAME))
        else:
            plan.frames[image.video_id].append(PlannedFrame(image, phase, selected[phase]))
    return plan
