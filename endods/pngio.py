"""Cheap PNG checks on encoded bytes: header facts and structural integrity without decoding pixels.

Passing source PNGs through unchanged is what makes the builder fast; these checks keep that safe:
a truncated or corrupted file fails the chunk walk (length, CRC, IEND) just as a decoder would.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour types: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
COLOR_GRAY, COLOR_RGB = 0, 2


class PngError(ValueError):
    """The bytes are not a complete, valid PNG."""


@dataclass(frozen=True)
class PngInfo:
    width: int
    height: int
    bit_depth: int
    color_type: int


def png_info(data: bytes, verify: bool = True) -> PngInfo:
    """Parse IHDR; with `verify`, walk every chunk checking lengths and CRCs up to IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngError("not a PNG file (bad signature)")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise PngError("PNG header truncated")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    info = PngInfo(width, height, bit_depth, color_type)
    if not verify:
        return info
    pos, end = 8, len(data)
    while True:
        if pos + 12 > end:
            raise PngError("PNG truncated (no IEND chunk)")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body_end = pos + 8 + length
        if body_end + 4 > end:
            raise PngError(f"PNG truncated inside chunk {ctype!r}")
        (crc,) = struct.unpack(">I", data[body_end : body_end + 4])
        if zlib.crc32(data[pos + 4 : body_end]) != crc:
            raise PngError(f"PNG corrupt: CRC mismatch in chunk {ctype!r}")
        if ctype == b"IEND":
            return info
        pos = body_end + 4


def decode_png(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Decode with OpenCV; raise PngError instead of returning None."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if arr is None:
        raise PngError("PNG does not decode")
    return arr


def encode_png(array: np.ndarray, compression: int = 1) -> bytes:
    """Encode a 2-D uint8 mask or an RGB image (channel order RGB) as PNG; fast, deterministic.

    Images get the Up row filter on every row rather than libpng's adaptive choice (mostly Paeth). On a
    1306x1009 ESD frame (measured, docs/architecture.md "Decoded-sample cache") that encodes 2.5x faster,
    is no larger, and decodes 1.7x faster in OpenCV and 4x faster in the training loader's fast PNG path,
    which handles None/Sub/Up rows only. Masks keep libpng's adaptive choice (unchanged bytes for existing
    builds); on class-id masks it is mostly None/Sub/Up, and a mask with other rows is decoded by OpenCV.
    """
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression]
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(array), params)
    if not ok:
        raise PngError("PNG encoding failed")
    return buf.tobytes()
