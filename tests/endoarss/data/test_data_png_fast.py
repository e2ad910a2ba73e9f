"""The fast PNG path gives OpenCV's pixels where it answers, and declines every file it does not handle."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from endoarss.data.frames import DataError, decode_mask, decode_record, decode_rgb
from endoarss.data.png_fast import decode_png_fast


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filtered(pixels: np.ndarray, filters: list[int]) -> bytes:
    """The PNG scanlines of ``pixels`` (HxW or HxWxC uint8), row i filtered with ``filters[i]``."""
    height, width = pixels.shape[:2]
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    flat = pixels.reshape(height, width * bpp).astype(np.int32)
    out = bytearray()
    for i, kind in enumerate(filters):
        x = flat[i]
        up = flat[i - 1] if i else np.zeros_like(x)
        left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]])
        if kind == 4:  # Paeth predictor
            p = left + up - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        else:
            pred = [np.zeros_like(x), left, up, (left + up) // 2][kind]
        out += bytes([kind]) + ((x - pred) % 256).astype(np.uint8).tobytes()
    return bytes(out)


def make_png(
    pixels: np.ndarray,
    filters: list[int] | None = None,
    idat_parts: int = 1,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    level: int = 6,
    strategy: int = zlib.Z_DEFAULT_STRATEGY,
) -> bytes:
    """A PNG written by hand, so the row filters, IDAT split and extra chunks are chosen by the test."""
    height, width = pixels.shape[:2]
    colour = {2: 0, 3: 2}[pixels.ndim] if pixels.ndim == 2 or pixels.shape[2] == 3 else 6
    stream = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    data = stream.compress(_filtered(pixels, filters or [1] * height)) + stream.flush()
    cuts = np.linspace(0, len(data), idat_parts + 1).astype(int)
    body = b"".join(_chunk(b"IDAT", data[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
    ancillary = b"".join(_chunk(kind, payload) for kind, payload in extra)
    return b"\x89PNG\r\n\x1a\n" + header + ancillary + body + _chunk(b"IEND", b"")


def _opencv_rgb(raw: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


RNG = np.random.default_rng(0)
SMOOTH = cv2.resize(RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8), (37, 29), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize(
    ("filters", "parts", "strategy"),
    [
        ([0] * 29, 1, zlib.Z_DEFAULT_STRATEGY),  # None everywhere
        ([1] * 29, 3, zlib.Z_RLE),  # Sub everywhere: OpenCV's imwrite default, split over IDAT chunks
        ([2] * 29, 1, zlib.Z_RLE),  # Up everywhere, the first row included
        ([0, 1, 1, 2, 2, 2, 0, 1, 2] * 3 + [2, 1], 4, zlib.Z_DEFAULT_STRATEGY),  # runs of every kind, mixed
    ],
)
def test_rgb_rows_with_none_sub_up_match_opencv(filters: list[int], parts: int, strategy: int) -> None:
    raw = make_png(SMOOTH, filters, parts, ((b"tEXt", b"Software\x00test"), (b"pHYs", bytes(9))), 1, strategy)
    fast = decode_png_fast(raw)
    assert fast is not None and fast.shape == (29, 37, 3) and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, _opencv_rgb(raw))
    np.testing.assert_array_equal(fast, SMOOTH)


def test_grey_masks_match_opencv_and_opencvs_own_encodings_take_the_fast_path() -> None:
    mask = np.zeros((33, 41), np.uint8)
    mask[5:20, 7:30], mask[25:, :9] = 3, 255
    for raw in (make_png(mask, [2, 1, 0] * 11), cv2.imencode(".png", mask)[1].tobytes()):
        fast = decode_png_fast(raw)
        assert fast is not None and fast.shape == mask.shape
        np.testing.assert_array_equal(fast, mask)
        np.testing.assert_array_equal(decode_mask({"bytes": raw}, "frame m"), mask)
    frame = cv2.imencode(".png", cv2.cvtColor(SMOOTH, cv2.COLOR_RGB2BGR))[1].tobytes()  # imwrite's Sub rows
    np.testing.assert_array_equal(decode_png_fast(frame), SMOOTH)


def _corrupt_idat_keeping_crcs(raw: bytes) -> bytes:
    """One pixel-stream byte changed and the chunk CRC recomputed, so only zlib's Adler-32 can tell."""
    start = raw.index(b"IDAT") + 4
    length = struct.unpack(">I", raw[start - 8 : start - 4])[0]
    body = bytearray(raw[start : start + length])
    body[length // 2] ^= 0x10
    return raw[: start - 8] + _chunk(b"IDAT", bytes(body)) + raw[start + length + 4 :]


@pytest.mark.parametrize(
    "raw",
    [
        make_png(SMOOTH, [4] * 29),  # Paeth (libpng's adaptive choice on photographs)
        make_png(SMOOTH, [1] * 20 + [3] * 9),  # Average rows after the peeked ones: the full check declines
        make_png(RNG.integers(0, 256, (29, 37, 4), dtype=np.uint8)),  # RGBA
        make_png(SMOOTH, extra=((b"tRNS", bytes(6)),)),  # a transparent colour
        cv2.imencode(".png", SMOOTH.astype(np.uint16) * 257)[1].tobytes(),  # 16 bit
        make_png(SMOOTH)[:-40],  # truncated
        make_png(SMOOTH)[:-16] + b"\x00" + make_png(SMOOTH)[-15:],  # the IDAT's CRC, pixels intact
        _corrupt_idat_keeping_crcs(make_png(SMOOTH, [0] * 29, level=0)),  # CRC fine, Adler-32 not
        make_png(SMOOTH, extra=((b"QQQQ", b"x"),)),  # an unknown critical chunk
        b"GIF89a" + bytes(64),
    ],
)
def test_everything_else_is_left_to_opencv(raw: bytes) -> None:
    assert decode_png_fast(raw) is None


def test_interlaced_and_palette_headers_are_declined() -> None:
    raw = make_png(SMOOTH)
    for offset, value in ((28, 1), (25, 3)):  # interlace method Adam7; colour type palette
        header = bytearray(raw[12:29])
        header[offset - 12] = value
        patched = raw[:8] + struct.pack(">I", 13) + bytes(header) + struct.pack(">I", zlib.crc32(header)) + raw[33:]
        assert decode_png_fast(patched) is None


def test_records_decode_the_same_through_either_path() -> None:
    """A frame whose PNG the fast path takes and the same frame Paeth-filtered (OpenCV) are one record."""
    mask = np.zeros((29, 37), np.uint8)
    mask[:, 20:] = 2
    fast_row = {"frame_id": "a", "image": {"bytes": make_png(SMOOTH, [1] * 29)}, "mask": {"bytes": make_png(mask)}}
    slow_row = {
        "frame_id": "a",
        "image": {"bytes": make_png(SMOOTH, [4] * 29)},
        "mask": {"bytes": make_png(mask, [4] * 29)},
    }
    assert decode_png_fast(slow_row["image"]["bytes"]) is None
    for got, want in zip(decode_record(fast_row, 10), decode_record(slow_row, 10), strict=True):
        np.testing.assert_array_equal(got, want)
    grey_as_image = {"bytes": make_png(mask)}  # a grey PNG in the image column: OpenCV expands it
    assert decode_rgb(grey_as_image, "frame g").shape == (29, 37, 3)


def test_a_damaged_frame_still_fails_with_the_frame_named() -> None:
    with pytest.raises(DataError, match="frame b: cannot decode the image bytes"):
        decode_rgb({"bytes": make_png(SMOOTH)[:-60]}, "frame b")


def test_frames_the_builders_encode_take_the_fast_path() -> None:
    """``endods.pngio.encode_png`` (MTLESD crops, JPEG sources, masks) writes rows this decoder takes."""
    from endods.pngio import encode_png

    mask = np.zeros((29, 37), np.uint8)
    mask[4:20, 3:30] = 5
    for pixels in (SMOOTH, mask):
        raw = encode_png(pixels)
        rows = np.frombuffer(zlib.decompress(b"".join(_idat_payloads(raw))), np.uint8)
        assert int(rows.reshape(29, -1)[:, 0].max()) <= 2  # None/Sub/Up only
        np.testing.assert_array_equal(decode_png_fast(raw), pixels)


def _idat_payloads(raw: bytes) -> list[bytes]:
    parts, pos = [], 8
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        if kind == b"IDAT":
            parts.append(raw[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return parts
