"""Decode one built-dataset record into the arrays the model side works on, checking it on the way.

The reader accepts only embedded PNG bytes: a cell that names a file (``path``) instead of carrying
``bytes`` breaks the built-dataset contract (docs/formats.md §6.2) and is refused, never opened, so a
dataset cannot make training read files outside it. With ``verify`` on (the default) the same pass
that decodes a frame also checks the PNG signature and that every mask value is a class id of the
label map or the ignore id, so integrity costs no second read. With ``verify`` off (experts, recorded
in the RUN) bytes in another format are decoded as OpenCV can and out-of-range mask values become the
ignore id rather than crashing the loss or the metrics.

PNGs in the common frame encodings are decoded by ``endoarss.data.png_fast`` (libdeflate and numpy, ~2x
OpenCV on 1280x1024 frames), every other file by OpenCV; both give the same pixels.

Working arrays: training samples are resized once to a *working size* (the model input times the
largest augmentation scale) before augmentation, evaluation samples to the model input with the mask
kept at label resolution. These are what the decoded-sample cache stores (``endoarss.data.sample_cache``).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from endoarss.data.augment import resize_image, resize_mask
from endoarss.data.png_fast import PNG_SIGNATURE, decode_png_fast
from endoarss.errors import EndoarssError
from schemas.labelmaps import IGNORE_INDEX

NO_VERIFY_HINT = "rebuild the dataset with `endods build`, or pass --no-verify (train: verify=false) to read it anyway"


class DataError(EndoarssError):
    """A dataset cannot be opened, lacks a split, or does not follow the built-dataset contract."""


def cell_bytes(cell: Any, where: str, what: str = "image") -> bytes:
    """The embedded bytes of a ``datasets.Image(decode=False)`` cell; a ``path``-only cell is refused."""
    raw = cell.get("bytes") if isinstance(cell, dict) else None
    if raw is not None:
        return raw
    path = cell.get("path") if isinstance(cell, dict) else None
    if path:
        raise DataError(
            f"{where}: the {what} cell names a file ({path!r}) instead of embedding PNG bytes; built datasets "
            "must embed every image (docs/formats.md §6.2), so the file is not read - rebuild the dataset"
        )
    raise DataError(f"{where}: the {what} cell holds no image bytes")


def decode_cell(cell: dict[str, Any], flags: int, where: str, verify: bool = True, what: str = "image") -> np.ndarray:
    """Decode a ``datasets.Image`` cell's embedded bytes with OpenCV; with ``verify`` they must carry the PNG
    signature. (``endods.pngio.decode_png`` is the builder's decoder of bare PNG bytes.)"""
    raw = cell_bytes(cell, where, what)
    if verify and not raw.startswith(PNG_SIGNATURE):
        raise DataError(f"{where}: the {what} bytes are not a PNG (they start {raw[:8]!r}); {NO_VERIFY_HINT}")
    buffer = np.frombuffer(raw, np.uint8)
    arr = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if _same_unchanged(raw, flags) else None
    if arr is None or arr.ndim != (3 if flags == cv2.IMREAD_COLOR else 2) or arr.shape[2:] not in ((), (3,)):
        arr = cv2.imdecode(buffer, flags)  # not the plain 8-bit layout after all (e.g. transparency added alpha)
    if arr is None:
        raise DataError(f"{where}: cannot decode the {what} bytes")
    return arr


# (imdecode flag, IHDR colour type) pairs for which IMREAD_UNCHANGED yields the same array: 8-bit RGB
# decoded as colour (BGR either way) and 8-bit grey decoded as greyscale. UNCHANGED skips OpenCV's
# conversion step (~15% of an image decode, measured on 1280x1024 frames).
_SAME_UNCHANGED = {(cv2.IMREAD_COLOR, 2), (cv2.IMREAD_GRAYSCALE, 0)}


def _same_unchanged(raw: bytes, flags: int) -> bool:
    """True when IMREAD_UNCHANGED decodes ``raw`` (a PNG, per its IHDR) to the same array as ``flags``."""
    return len(raw) > 25 and raw[12:16] == b"IHDR" and raw[24] == 8 and (flags, raw[25]) in _SAME_UNCHANGED


def decode_rgb(cell: dict[str, Any], where: str, verify: bool = True) -> np.ndarray:
    """RGB uint8 HxWx3 of an image cell: the fast PNG path where it applies, else OpenCV's decode."""
    fast = decode_png_fast(cell_bytes(cell, where, "image"))
    if fast is not None and fast.ndim == 3:
        return fast
    return cv2.cvtColor(decode_cell(cell, cv2.IMREAD_COLOR, where, verify, "image"), cv2.COLOR_BGR2RGB)


def decode_mask(cell: dict[str, Any], where: str, verify: bool = True) -> np.ndarray:
    """Class-id uint8 HxW of a mask cell (values not yet checked): the fast PNG path, else OpenCV's."""
    fast = decode_png_fast(cell_bytes(cell, where, "mask"))
    if fast is not None and fast.ndim == 2:
        return fast
    return decode_cell(cell, cv2.IMREAD_GRAYSCALE, where, verify, "mask")


def check_mask_values(mask: np.ndarray, num_classes: int | None, where: str, verify: bool = True) -> np.ndarray:
    """``mask`` when every value is a class id or the ignore id; else an error (verify) or ignore-mapped copy."""
    if num_classes is None or num_classes >= IGNORE_INDEX:
        return mask
    # one SIMD pass counts the offending pixels (a 256-bin histogram cost 8x more); which values are wrong
    # is only worked out when some are
    if not cv2.countNonZero(cv2.inRange(mask, num_classes, IGNORE_INDEX - 1)):
        return mask
    if verify:
        bad = np.flatnonzero(np.bincount(mask.ravel(), minlength=256)[num_classes:IGNORE_INDEX]) + num_classes
        raise DataError(
            f"{where}: mask values {bad[:8].tolist()} are outside the label map (class ids 0..{num_classes - 1}, "
            f"ignore {IGNORE_INDEX}); {NO_VERIFY_HINT} with those pixels ignored"
        )
    lut = np.arange(256, dtype=np.uint8)
    lut[num_classes:IGNORE_INDEX] = IGNORE_INDEX
    return cv2.LUT(mask, lut)


def decode_record(
    row: dict[str, Any], num_classes: int | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 HxWx3, class-id uint8 HxW) of one record at its stored resolution, checked."""
    where = f"frame {row.get('frame_id')}"
    image = decode_rgb(row["image"], where, verify)
    mask = decode_mask(row["mask"], where, verify)
    if mask.shape != image.shape[:2]:
        raise DataError(f"{where}: mask {mask.shape} and image {image.shape[:2]} differ in size")
    return image, check_mask_values(mask, num_classes, where, verify)


def working_size(image_size: tuple[int, int], max_scale: float) -> tuple[int, int]:
    """Training working size: the model input times the largest zoom, so a crop is never upsampled."""
    h, w = image_size
    return math.ceil(h * max_scale), math.ceil(w * max_scale)


def train_arrays(
    row: dict[str, Any], size: tuple[int, int], num_classes: int | None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, nearest-resized mask), both at the working ``size``."""
    image, mask = decode_record(row, num_classes, verify)
    return resize_image(image, size), resize_mask(mask, size)


def eval_arrays(
    row: dict[str, Any], size: tuple[int, int], num_classes: int | None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image at the model input ``size``, mask at label resolution)."""
    image, mask = decode_record(row, num_classes, verify)
    return resize_image(image, size), mask
