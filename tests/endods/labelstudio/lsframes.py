"""Synthetic frames of the Label Studio tests (a module, not conftest, so tests can import it)."""

from __future__ import annotations

import cv2
import numpy as np

H, W = 128, 160


def frame_arrays(i: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Image, class-id mask and activity of synthetic frame i (2-3 classes, some ignore pixels)."""
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), np.uint8)
    cv2.rectangle(mask, (10 + i, 10), (60 + i, 50), 1, -1)
    cv2.circle(mask, (110, 80), 20 + i, 3, -1)
    if i % 2 == 0:
        cv2.fillPoly(mask, [np.array([[40, 120], [90, 70], [140, 127]], np.int32)], 6)
    mask[0:4, 150:160] = 255  # ignore band: must survive export/import untouched
    return image, mask, i % 4


FRAME_IDS = [f"seq_{1 + i // 3}/frame{i:03d}" for i in range(6)]
SPLIT = {fid: ("train" if i in (0, 3) else "test") for i, fid in enumerate(FRAME_IDS)}
