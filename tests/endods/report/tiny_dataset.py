"""A tiny built MTLEndovis dataset with known content, shared by the report, export and CLI tests.

Loaded by file path (tests/ is not an importable package under pytest's default import mode).
Eight frames in four groups, an explicit split, one frame of another size, ignore pixels in one mask,
and `seq_3/frame001` (test) a near copy of `seq_1/frame000` (train) for the leakage check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from endods.pngio import encode_png
from endods.writer import BuildSession, EncodedFrame
from schemas.labelmaps import MTLENDOVIS

H, W = 48, 64


@dataclass(frozen=True)
class TinyFrame:
    frame_id: str
    group: str
    split: str
    activity: int
    image: np.ndarray
    mask: np.ndarray


# frame_id, split, activity index, [(class id, x0, y0, x1, y1)], size (w, h)
PLAN = [
    ("seq_1/frame000", "train", 0, [(1, 4, 4, 20, 30)], (W, H)),
    ("seq_1/frame001", "train", 0, [(1, 6, 6, 22, 28), (2, 40, 10, 60, 40)], (W, H)),
    ("seq_2/frame000", "train", 3, [(2, 10, 20, 50, 44)], (W, H)),
    ("seq_2/frame001", "train", 3, [(3, 30, 5, 58, 25), (255, 0, 40, 10, 48)], (W, H)),
    ("seq_3/frame000", "train", 4, [], (W, H)),
    ("seq_3/frame001", "test", 4, [(1, 4, 4, 20, 30)], (W, H)),
    ("seq_4/frame000", "test", 0, [(1, 2, 2, 30, 30), (3, 40, 30, 78, 58)], (80, 60)),
    ("seq_4/frame001", "test", 3, [(2, 12, 12, 40, 40)], (W, H)),
]
NEAR_DUPLICATE = ("seq_3/frame001", "seq_1/frame000")  # (test, train)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Smooth random pattern: a frame-specific dHash, stable under a little pixel noise."""
    coarse = rng.integers(40, 220, (4, 5, 3), dtype=np.uint8)
    return cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)


def tiny_frames(seed: int = 0) -> list[TinyFrame]:
    rng = np.random.default_rng(seed)
    frames: list[TinyFrame] = []
    by_id: dict[str, np.ndarray] = {}
    for frame_id, split, activity, boxes, size in PLAN:
        image = _background(rng, size)
        mask = np.zeros((size[1], size[0]), np.uint8)
        for class_id, x0, y0, x1, y1 in boxes:
            mask[y0:y1, x0:x1] = class_id
            if class_id != 255:
                image[y0:y1, x0:x1] = MTLENDOVIS.classes[class_id].color
        if frame_id == NEAR_DUPLICATE[0]:
            source = by_id[NEAR_DUPLICATE[1]].astype(np.int16)
            image = np.clip(source + rng.integers(-3, 4, source.shape), 0, 255).astype(np.uint8)
        by_id[frame_id] = image
        frames.append(TinyFrame(frame_id, frame_id.split("/")[0], split, activity, image, mask))
    return frames


def build_tiny(out: Path, seed: int = 0) -> list[TinyFrame]:
    """Write the tiny dataset to `out` (MTLEndovis label map) and return its frames."""
    frames = tiny_frames(seed)
    with BuildSession(out) as session:
        for f in frames:
            counts = np.bincount(f.mask[f.mask != 255], minlength=MTLENDOVIS.num_classes)
            session.add(
                EncodedFrame(
                    f.frame_id, f.group, "endovis18", f.activity, encode_png(f.image), encode_png(f.mask), tuple(counts)
                )
            )
        session.finish("mtlendovis", MTLENDOVIS, {f.frame_id: f.split for f in frames})
    return frames
