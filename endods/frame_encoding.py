"""Per-frame pixel work of the EndoVis builders, run in worker threads.

Source PNGs that already have the final encoding (8-bit RGB frames, 8-bit gray class-id masks) are
passed through byte-for-byte after a structural check (`pngio.png_info`): re-encoding 1280x1024
frames would dominate build time and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from endods.errors import SourceError
from endods.pngio import COLOR_GRAY, COLOR_RGB, PngError, decode_png, encode_png, png_info
from endods.sources.base import IdTable, SourceFrame
from endods.writer import EncodedFrame
from schemas.hashing import sha256_bytes


@dataclass(frozen=True)
class FrameJob:
    frame: SourceFrame
    activity: int
    num_classes: int


@dataclass(frozen=True)
class FrameDrop:
    frame_id: str
    reason: str
    path: Path


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:  # e.g. chmod 000: the user must fix it, a dropped frame would hide it
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc}); check the file and its permissions") from None


def _image(
    path: Path, hashes: dict[str, str], crop: tuple[int, int, int, int] | None = None
) -> tuple[bytes, int, int] | None:
    """(RGB PNG bytes, width, height), cropped to `crop` (x, y, w, h) when given, or None when the
    file does not decode."""
    data = _read(path)
    hashes[str(path)] = sha256_bytes(data)
    try:
        info = png_info(data)
        if crop is None and info.color_type == COLOR_RGB and info.bit_depth == 8:
            return data, info.width, info.height
        arr = decode_png(data, cv2.IMREAD_COLOR)
    except PngError:
        return None
    if crop is not None:
        x, y, w, h = crop
        arr = arr[y : y + h, x : x + w]
    rgb = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return encode_png(rgb), rgb.shape[1], rgb.shape[0]


def _check_values(mask: np.ndarray, num_classes: int, path: Path) -> np.ndarray:
    # calcHist is ~10x faster than np.bincount on a 1280x1024 uint8 mask.
    counts = cv2.calcHist([mask], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    bad = np.flatnonzero(counts[num_classes:]) + num_classes
    if bad.size:
        raise SourceError(
            f"{path}: mask value {int(bad[0])} is outside the label map (valid class ids 0..{num_classes - 1}; "
            f"{int(counts[bad[0]])} pixels)"
        )
    return counts[:num_classes]


def _single_mask(
    job: FrameJob, size: tuple[int, int], hashes: dict[str, str]
) -> tuple[bytes, np.ndarray, int] | FrameDrop:
    frame = job.frame
    assert frame.mask_path is not None
    data = _read(frame.mask_path)
    hashes[str(frame.mask_path)] = sha256_bytes(data)
    try:
        info = png_info(data)
        mask = decode_png(data, cv2.IMREAD_UNCHANGED)
    except PngError:
        return FrameDrop(frame.frame_id, "unreadable_image", frame.mask_path)
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise SourceError(
            f"{frame.mask_path}: type mask must be single-channel 8-bit, got shape {mask.shape} {mask.dtype}"
        )
    _check_size(frame, mask, size, frame.mask_path)
    table = frame.id_table
    mapped = table is not None and not table.is_identity
    unmapped = 0
    if table is not None:  # every id must be in the source's own table, mapped or not
        unmapped = int(np.isin(mask, sorted(table.unmapped)).sum()) if table.unmapped else 0
        ids = _map_ids(mask, table, frame.mask_path)
        mask = ids if mapped else mask
    counts = _check_values(mask, job.num_classes, frame.mask_path)
    passthrough = not mapped and info.color_type == COLOR_GRAY and info.bit_depth == 8
    return (data if passthrough else encode_png(mask)), counts, unmapped


def _map_ids(mask: np.ndarray, table: IdTable, path: Path) -> np.ndarray:
    """Source ids -> MTLEndovis ids through the source's own table (docs/formats.md §9.5)."""
    lut = np.asarray(table.lut, np.int16)
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    missing = [int(v) for v in present if lut[v] < 0]
    if missing:
        raise SourceError(
            f"{path}: mask value {missing[0]} is not an id of the label table {table.path} "
            f"(its ids: {[i for i, v in enumerate(table.lut) if v >= 0]}); use the masks organised with that table"
        )
    return lut.astype(np.uint8)[mask]


def _check_size(frame: SourceFrame, mask: np.ndarray, size: tuple[int, int], mask_path: Path) -> None:
    if (mask.shape[1], mask.shape[0]) != size:
        raise SourceError(
            f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {frame.image_path} is "
            f"{size[0]}x{size[1]}"
        )


def _painted_mask(
    job: FrameJob, size: tuple[int, int], hashes: dict[str, str]
) -> tuple[bytes, np.ndarray, int] | FrameDrop:
    """EndoVis17: paint binary instrument masks in order (later wins), then crop to the frame."""
    frame = job.frame
    mask: np.ndarray | None = None
    unmapped: np.ndarray | None = None
    for part in frame.mask_parts:
        data = _read(part.path)
        hashes[str(part.path)] = sha256_bytes(data)
        try:
            png_info(data)
            arr = decode_png(data, cv2.IMREAD_UNCHANGED)
        except PngError:
            return FrameDrop(frame.frame_id, "unreadable_image", part.path)
        binary = (arr.max(axis=2) if arr.ndim == 3 else arr) > 0
        if mask is None:
            mask = np.zeros(binary.shape, np.uint8)
            unmapped = np.zeros(binary.shape, bool)
        elif binary.shape != mask.shape:
            raise SourceError(
                f"{part.path}: ground-truth mask is {binary.shape[1]}x{binary.shape[0]} but "
                f"{frame.mask_parts[0].path} is {mask.shape[1]}x{mask.shape[0]}"
            )
        mask[binary] = part.class_id
        unmapped[binary] = part.class_id == 0 and part.source_type != 0
    assert mask is not None and unmapped is not None
    if frame.crop is not None:
        x, y, w, h = frame.crop
        mask, unmapped = mask[y : y + h, x : x + w], unmapped[y : y + h, x : x + w]
    _check_size(frame, mask, size, frame.mask_parts[0].path)
    counts = _check_values(mask, job.num_classes, frame.mask_parts[0].path)
    return encode_png(mask), counts, int(unmapped.sum())


def encode_frame(job: FrameJob) -> EncodedFrame | FrameDrop:
    """Turn one SourceFrame into a record, a listed drop, or a SourceError for invalid content."""
    frame = job.frame
    hashes: dict[str, str] = {}
    assert frame.image_path is not None
    image = _image(frame.image_path, hashes, frame.crop)
    if image is None:
        return FrameDrop(frame.frame_id, "unreadable_image", frame.image_path)
    image_png, width, height = image
    facts = dict(frame.facts)
    if frame.mask_parts:
        result = _painted_mask(job, (width, height), hashes)
        if isinstance(result, FrameDrop):
            return result
        mask_png, counts, unmapped = result
        facts["unmapped_instrument_pixels"] = unmapped
    else:
        result = _single_mask(job, (width, height), hashes)
        if isinstance(result, FrameDrop):
            return result
        mask_png, counts, unmapped = result
        if frame.id_table is not None:
            facts["unmapped_instrument_pixels"] = unmapped
    return EncodedFrame(
        frame_id=frame.frame_id,
        group=frame.group,
        source=frame.source,
        activity=job.activity,
        image_png=image_png,
        mask_png=mask_png,
        class_pixels=tuple(int(c) for c in counts),
        facts=facts,
        file_hashes=hashes,
    )
