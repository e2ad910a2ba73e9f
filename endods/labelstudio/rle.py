"""Brush masks <-> Label Studio results, through the SDK's own RLE codec (no codec of ours).

Label Studio stores a brush region as the RLE of an RGBA canvas; only the alpha channel carries
the region. We send 255 for every channel inside the region and read a pixel as painted when its
alpha is >= 128 (the UI paints opaque strokes; the threshold only guards against partial alpha).

`mask2rle(m)` is exactly `encode_rle(np.repeat(m.ravel(), 4))`. For a class-id mask with several
classes, `mask_results` builds that 4x-repeated array once per mask and compares it per class
in a reused buffer, instead of a full-size compare, a 0/255 copy and a fresh 4x repeat per class;
the bytes handed to `encode_rle` are identical, so is the RLE (tested against `mask2rle`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, encode_rle, mask2rle

from endods.labelstudio.config import ACTIVITY_FROM, IMAGE_NAME, MASK_FROM
from schemas.labelmaps import LabelMap

ALPHA_THRESHOLD = 128


class RleSizeError(ValueError):
    """An RLE does not decode to height x width x 4 values."""


def encode_region(region: np.ndarray) -> list[int]:
    """RLE of a boolean (H, W) region (a list of Python ints, as the SDK returns it)."""
    return mask2rle(np.where(region, np.uint8(255), np.uint8(0)))


def encode_classes(mask: np.ndarray, class_ids: list[int]) -> list[list[int]]:
    """RLE of `mask == c` for each c, equal to `encode_region(mask == c)` but with less work per class."""
    rgba = np.repeat(mask.astype(np.uint8, copy=False).ravel(), 4)  # what mask2rle feeds encode_rle, built once
    alpha = np.empty_like(rgba)
    out = []
    for cid in class_ids:
        np.equal(rgba, cid, out=alpha.view(np.bool_))  # 1 inside the region, 0 outside
        alpha *= 255  # in place: 0/255, the same uint8 array as the mask2rle path
        out.append(encode_rle(alpha))
    return out


def check_rle_header(rle: object, height: int, width: int) -> None:
    """Refuse an RLE from its header, before the codec allocates what the header claims.

    The codec's first 32 bits are the number of values it will allocate (RGBA: 4 per pixel); an
    imported RLE may claim up to 2**32 - 1. A valid RLE is also never much longer than its values.
    """
    expected = height * width * 4
    if not isinstance(rle, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in rle):
        raise RleSizeError(f"RLE must be a list of byte values, got {type(rle).__name__}")
    if len(rle) < 4 or len(rle) > 2 * expected + 64 or any(v < 0 or v > 255 for v in rle):
        raise RleSizeError(f"RLE of {len(rle)} values is not a valid encoding of a {height}x{width} mask")
    claimed = int.from_bytes(bytes(rle[:4]), "big")
    if claimed != expected:
        raise RleSizeError(f"RLE header claims {claimed // 4} pixels, expected {height}x{width}={height * width}")


def decode_region(rle: list[int], height: int, width: int) -> np.ndarray:
    """Boolean (H, W) region of an RLE; RleSizeError when it has the wrong number of pixels."""
    check_rle_header(rle, height, width)
    try:
        flat = decode_rle(rle)
    except (ValueError, IndexError, TypeError) as exc:  # a header that fits, and a truncated body
        raise RleSizeError(f"RLE does not decode ({type(exc).__name__}: {exc})") from None
    if flat.size != height * width * 4:
        raise RleSizeError(f"RLE holds {flat.size // 4} pixels, expected {height}x{width}={height * width}")
    return flat.reshape(height, width, 4)[:, :, 3] >= ALPHA_THRESHOLD


def brush_result(region: np.ndarray, label: str) -> dict[str, Any]:
    """A brushlabels result for a boolean (H, W) region."""
    return rle_result(encode_region(region), region.shape, label)


def rle_result(rle: list[int], shape: tuple[int, ...], label: str) -> dict[str, Any]:
    height, width = shape
    return {
        "from_name": MASK_FROM,
        "to_name": IMAGE_NAME,
        "type": "brushlabels",
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {"format": "rle", "rle": rle, "brushlabels": [label]},
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
    present = [int(c) for c in np.flatnonzero(np.bincount(mask.ravel(), minlength=256)[1 : labelmap.num_classes]) + 1]
    rles = encode_classes(mask, present)
    return [rle_result(rle, mask.shape, labelmap.classes[c].name) for c, rle in zip(present, rles, strict=True)]


def labels_results(mask: np.ndarray, activity: int, labelmap: LabelMap) -> list[dict[str, Any]]:
    """A full prediction/annotation result list: every present class plus the activity choice."""
    return [*mask_results(mask, labelmap), choice_result(labelmap.activities[activity])]
