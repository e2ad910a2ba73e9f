"""Brush masks <-> Label Studio results, through the SDK's own RLE codec (no codec of ours).

Label Studio stores a brush region as the RLE of an RGBA canvas; only the alpha channel carries
the region. We send 255 for every channel inside the region and read a pixel as painted when its
alpha is >= 128 (the UI paints opaque strokes; the threshold only guards against partial alpha).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle

from endods.labelstudio.config import ACTIVITY_FROM, IMAGE_NAME, MASK_FROM
from schemas.labelmaps import IGNORE_INDEX, LabelMap

ALPHA_THRESHOLD = 128


class RleSizeError(ValueError):
    """An RLE does not decode to height x width x 4 values."""


def encode_region(region: np.ndarray) -> list[int]:
    """RLE of a boolean (H, W) region."""
    return [int(v) for v in mask2rle(np.where(region, np.uint8(255), np.uint8(0)))]


def decode_region(rle: list[int], height: int, width: int) -> np.ndarray:
    """Boolean (H, W) region of an RLE; RleSizeError when it has the wrong number of pixels."""
    flat = decode_rle(rle)
    if flat.size != height * width * 4:
        raise RleSizeError(f"RLE holds {flat.size // 4} pixels, expected {height}x{width}={height * width}")
    return flat.reshape(height, width, 4)[:, :, 3] >= ALPHA_THRESHOLD


def brush_result(region: np.ndarray, label: str) -> dict[str, Any]:
    height, width = region.shape
    return {
        "from_name": MASK_FROM,
        "to_name": IMAGE_NAME,
        "type": "brushlabels",
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {"format": "rle", "rle": encode_region(region), "brushlabels": [label]},
    }


def choice_result(activity: str) -> dict[str, Any]:
    return {
        "from_name": ACTIVITY_FROM,
        "to_name": IMAGE_NAME,
        "type": "choices",
        "value": {"choices": [activity]},
    }


def mask_results(mask: np.ndarray, labelmap: LabelMap) -> list[dict[str, Any]]:
    """One brush result per class present in a class-id mask (background and ignore are not sent)."""
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256)[1 : labelmap.num_classes]) + 1
    return [brush_result(mask == cid, labelmap.classes[cid].name) for cid in present]


def labels_results(mask: np.ndarray, activity: int, labelmap: LabelMap) -> list[dict[str, Any]]:
    """A full prediction/annotation result list: every present class plus the activity choice."""
    return [*mask_results(mask, labelmap), choice_result(labelmap.activities[activity])]


def is_ignore(mask: np.ndarray) -> np.ndarray:
    return mask == IGNORE_INDEX
