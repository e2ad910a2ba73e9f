"""A fast PNG decoder for the common case of video frames and class-id masks, with OpenCV as the fallback.

Decoding a 1280x1024 frame with OpenCV costs ~17-21 ms (one core of this project's 2-core CI machine;
docs/architecture.md "Decoded-sample cache"). For PNGs written the way OpenCV's ``imwrite`` writes them
(zlib level 1, run-length strategy, one row filter for the whole image) almost all of that time is zlib
inflating the pixel stream. libdeflate inflates the same stream 2.4x faster, and the row filters None,
Sub and Up undo as whole-row numpy operations. This module does exactly that and nothing more.

:func:`decode_png_fast` handles 8-bit grey or RGB, non-interlaced PNGs whose rows use the None, Sub or Up
filter. It returns ``None`` for anything else: palette, alpha, 16 bit, interlacing, Average or Paeth rows,
a damaged or truncated stream. The caller then decodes with OpenCV, so every such file decodes and fails
exactly as it did before. Where the fast path answers, it gives the same pixels as OpenCV (tests compare
them on every supported encoding). The CRCs of the critical chunks and zlib's Adler-32 are checked, as
libpng checks them.
"""

from __future__ import annotations

import struct
import zlib

import deflate
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3}  # IHDR colour type -> channels of the types decoded here (grey, RGB)
FILTER_NONE, FILTER_SUB, FILTER_UP = 0, 1, 2
# Chunks that change how pixels decode or must be understood; a file that has one goes to OpenCV.
_REFUSED_CHUNKS = {b"PLTE", b"tRNS"}
_PEEK_ROWS = 16  # rows inflated up front to spot Average/Paeth filters before the full inflate


def png_layout(raw: bytes) -> tuple[int, int, int] | None:
    """(height, width, channels) of an 8-bit grey or RGB non-interlaced PNG, from its IHDR; else None."""
    if len(raw) < 33 or not raw.startswith(PNG_SIGNATURE) or raw[12:16] != b"IHDR":
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", raw[16:29])
    if depth != 8 or colour not in CHANNELS or compression or filtering or interlace or not width or not height:
        return None
    if zlib.crc32(raw[12:29]) != struct.unpack(">I", raw[29:33])[0]:
        return None
    return height, width, CHANNELS[colour]


def _pixel_stream(raw: bytes) -> bytes | None:
    """The concatenated IDAT payloads, walking every chunk to IEND; None on a damaged or unusual file."""
    view, parts, pos = memoryview(raw), [], 33
    while pos + 12 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(raw) or kind in _REFUSED_CHUNKS:
            return None
        critical = not kind[0] & 0x20  # upper-case first letter
        if critical and deflate.crc32(view[pos + 4 : end]) != struct.unpack(">I", raw[end : end + 4])[0]:
            return None
        if kind == b"IEND":
            return b"".join(parts) if parts else None
        if kind == b"IDAT":
            parts.append(view[pos + 8 : end])
        elif critical:
            return None  # a critical chunk this decoder does not know
        pos = end + 4
    return None


def _only_simple_filters(stream: bytes, row_bytes: int, rows: int) -> bool:
    """Whether the first rows use None/Sub/Up only: an encoder that chose Average or Paeth there (libpng's
    adaptive filtering on photographs) uses them throughout, and the full inflate would be wasted."""
    try:
        head = zlib.decompressobj().decompress(stream, min(rows, _PEEK_ROWS) * row_bytes)
    except zlib.error:
        return False
    return bool(head) and max(head[::row_bytes]) <= FILTER_UP


def decode_png_fast(raw: bytes) -> np.ndarray | None:
    """Pixels of ``raw`` (HxW grey or HxWx3 **RGB**, uint8) when it is a PNG this decoder handles, else None."""
    layout = png_layout(raw)
    stream = _pixel_stream(raw) if layout else None
    if layout is None or stream is None:
        return None
    height, width, channels = layout
    row_bytes = 1 + width * channels
    if not _only_simple_filters(stream, row_bytes, height):
        return None
    try:
        inflated = deflate.zlib_decompress(stream, height * row_bytes)
    except deflate.DeflateError:
        return None
    if len(inflated) != height * row_bytes:
        return None
    rows = np.frombuffer(inflated, np.uint8).reshape(height, row_bytes)
    filters = rows[:, 0]
    if int(filters.max()) > FILTER_UP:
        return None
    out = np.empty((height, width * channels), np.uint8)
    _unfilter(rows[:, 1:], filters, channels, out)
    return out.reshape(height, width, channels) if channels == 3 else out


def _unfilter(rows: np.ndarray, filters: np.ndarray, channels: int, out: np.ndarray) -> None:
    """Undo the None/Sub/Up filters into ``out``, run by run of rows sharing a filter (mod-256 sums)."""
    height, row_len = rows.shape
    starts = np.flatnonzero(np.diff(filters, prepend=-1))
    for start, stop in zip(starts, [*starts[1:], height], strict=True):
        kind = filters[start]
        if kind == FILTER_SUB:  # each byte adds the same channel of the pixel to its left: a running sum
            shape = (stop - start, row_len // channels, channels)
            np.cumsum(rows[start:stop].reshape(shape), axis=1, dtype=np.uint8, out=out[start:stop].reshape(shape))
            continue
        out[start:stop] = rows[start:stop]
        if kind == FILTER_UP:  # each row adds the decoded row above it (none above the first)
            for i in range(max(start, 1), stop):
                np.add(out[i], out[i - 1], out=out[i])
