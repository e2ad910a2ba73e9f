"""Drawing and writing helpers shared by the synthetic source generators.

Synthetic trees stand in for the real (licensed, large) sources in tests and the demo, so they
must look plausible to a model (textured tissue, tool-shaped instruments), be cheap to make
(textures are low-resolution noise upsampled) and be byte-identical for a seed (numpy Generator,
OpenCV drawing and PNG encoding with fixed parameters, no timestamps).

They must also be learnable, so `endods demo` can show a model train from a random backbone in
minutes: each instrument class has its own body colour (`CLASS_COLORS`), tools are drawn thick
enough to stay a patch or more wide at a 112 px model input, and the tool states that the activity
policy cannot tell apart from the tools alone leave a visible mark on the tissue at the tool tip
(`STATE_EFFECTS`: smoke for cauterisation, a dark retracted fold for retraction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# Part codes of a tool canvas; EndoVis17 ground truth uses 10/20/30 for the same parts.
SHAFT, WRIST, CLASPER = 1, 2, 3
PART_GRAY = {SHAFT: 105, WRIST: 70, CLASPER: 165}


@dataclass
class SynthReport:
    """What a generator wrote: the truth a correct build must reproduce.

    `frames` maps a frame_id that a build must contain to
    `{"activity", "group", "class_pixels": [count per class id], "states": [raw VQLA answers]}`
    (EndoVis17 adds `unmapped_instrument_pixels`); `dropped` maps a frame_id that a build must
    drop to its docs/formats.md §5.5 reason. All counts come from the arrays that were painted.
    """

    dataset: str
    root: Path
    frames: dict[str, dict] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    files: int = 0

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "root": str(self.root),
            "frames": self.frames,
            "dropped": self.dropped,
            "files": self.files,
        }


def tissue(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Pinkish tissue texture (RGB uint8): two octaves of smooth noise on a pink base colour.

    Built at 1/8 resolution and upsampled once in uint8, which keeps a frame at a few ms.
    """
    lh, lw = max(2, height // 8), max(2, width // 8)
    coarse = rng.random((max(2, height // 128), max(2, width // 128), 3), dtype=np.float32)
    fine = rng.random((max(2, height // 24), max(2, width // 24)), dtype=np.float32)
    coarse = cv2.resize(coarse, (lw, lh), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(fine, (lw, lh), interpolation=cv2.INTER_LINEAR)
    base = np.array([196.0, 104.0, 112.0], np.float32)
    amp = np.array([40.0, 34.0, 34.0], np.float32)
    low = np.clip(base + (coarse - 0.5) * amp + (fine[..., None] - 0.5) * 30.0, 0, 255).astype(np.uint8)
    return cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)


# Body colour (RGB) of each MTLEndovis instrument class id: hues far from each other and from the
# pink tissue, so the class survives the resize to the model input and the training colour jitter.
# A tool without an entry (the stapler, EndoVis17's vessel sealer and grasping retractor, which have
# no MTLEndovis class) keeps the metallic greys of `PART_GRAY`.
CLASS_COLORS: dict[int, tuple[int, int, int]] = {
    1: (35, 75, 230),  # Bipolar Forceps: blue
    2: (40, 185, 55),  # Prograsp Forceps: green
    3: (235, 215, 35),  # Large Needle Driver: yellow
    4: (25, 205, 215),  # Monopolar Curved Scissors: cyan
    5: (30, 30, 35),  # Ultrasound Probe: black
    6: (150, 50, 210),  # Suction Instrument: purple
    7: (245, 125, 10),  # Clip Applier: orange
}
PART_FACTOR = {SHAFT: 1.0, WRIST: 0.8, CLASPER: 1.1}  # parts stay visible within one colour
# Tissue marks of the tool states that the tools present do not give away (cauterization, retraction
# and manipulation frames all show bipolar + prograsp forceps): RGB colour, peak opacity, radius as a
# fraction of the frame width, and whether the edge is soft (smoke) or firm (a retracted fold).
STATE_EFFECTS: dict[str, tuple[tuple[int, int, int], float, float, bool]] = {
    "Cauterization": ((222, 222, 216), 0.85, 0.15, True),
    "Retraction": ((95, 12, 22), 0.95, 0.12, False),
}


def tool_pose(
    rng: np.random.Generator, height: int, width: int, scale: float = 1.0, edge: int | None = None
) -> tuple[np.ndarray, tuple[float, float]]:
    """One instrument as a uint8 part canvas (0 none, SHAFT, WRIST, CLASPER) and the point (x, y) just
    past its jaws where it works on the tissue (where `paint_state_effect` marks it).

    The shaft enters from image edge `edge` (0 left, 1 right, 2 top, 3 bottom; random if None) and
    ends at a tip in the half of the frame on that side, followed by a wrist and two open jaws, which
    is roughly how robotic tools appear in EndoVis frames; tools from different edges rarely hide each
    other. Shafts are 16-22% of the width across at `scale` 1, so they cover more than one 14 px patch
    of a 112 px model input.
    """
    canvas = np.zeros((height, width), np.uint8)
    edge = int(rng.integers(4)) if edge is None else edge
    t = float(rng.uniform(0.15, 0.85))
    margin = 0.2 * max(width, height)
    entry = [
        (-margin, t * height),
        (width + margin, t * height),
        (t * width, -margin),
        (t * width, height + margin),
    ][edge]
    depth, across = float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.25, 0.75))
    tip = np.array(
        [
            (depth * width, across * height),
            ((1 - depth) * width, across * height),
            (across * width, depth * height),
            (across * width, (1 - depth) * height),
        ][edge]
    )
    entry = np.array(entry)
    axis = tip - entry
    u = axis / np.linalg.norm(axis)
    n = np.array([-u[1], u[0]])
    half = float(rng.uniform(0.08, 0.11)) * width * scale
    wrist_start = tip - u * half * 1.5
    shaft = [entry + n * half, wrist_start + n * half, wrist_start - n * half, entry - n * half]
    wrist = [wrist_start + n * half * 0.9, tip + n * half * 0.8, tip - n * half * 0.8, wrist_start - n * half * 0.9]
    opening = float(rng.uniform(0.15, 0.45))
    jaw_len = half * 2.2
    jaws = []
    for sign in (1.0, -1.0):
        c, s = np.cos(sign * opening), np.sin(sign * opening)
        d = np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]])
        jaws.append([tip + n * half * 0.8 * sign, tip, tip + d * jaw_len])
    for code, polys in ((SHAFT, [shaft]), (WRIST, [wrist]), (CLASPER, jaws)):
        pts = [np.round(np.array(p)).astype(np.int32) for p in polys]
        cv2.fillPoly(canvas, pts, code)
    front = tip + u * jaw_len
    return canvas, (float(front[0]), float(front[1]))


def tool_canvas(rng: np.random.Generator, height: int, width: int, scale: float = 1.0) -> np.ndarray:
    """The part canvas of :func:`tool_pose` alone."""
    return tool_pose(rng, height, width, scale)[0]


def paint_tool(
    image: np.ndarray, canvas: np.ndarray, shade: np.ndarray, color: tuple[int, int, int] | None = None
) -> None:
    """Paint a tool's parts onto an RGB image in place: in `color` (per-part brightness) or, without
    one, in metallic greys; `shade` adds smooth highlights either way."""
    for code, gray in PART_GRAY.items():
        sel = canvas == code
        if color is None:
            image[sel] = np.clip(gray + shade[sel], 0, 255).astype(np.uint8)[:, None]
        else:
            base = np.array(color, np.float32) * PART_FACTOR[code]
            image[sel] = np.clip(base[None, :] + shade[sel][:, None], 0, 255).astype(np.uint8)


def paint_state_effect(image: np.ndarray, rng: np.random.Generator, at: tuple[float, float], state: str) -> None:
    """Blend the tissue mark of `state` (see `STATE_EFFECTS`) centred on `at` (a tool's front), in place.

    Paint marks before any tool: they lie on the tissue, and the masks count them as background.
    Always draws one random number, so a frame's later draws do not depend on which states it shows.
    """
    jitter = float(rng.uniform(0.85, 1.15))
    if state not in STATE_EFFECTS:
        return
    color, opacity, radius, soft = STATE_EFFECTS[state]
    height, width = image.shape[:2]
    r = radius * width * jitter
    x0, x1 = max(0, int(at[0] - 2 * r)), min(width, int(at[0] + 2 * r) + 1)
    y0, y1 = max(0, int(at[1] - 2 * r)), min(height, int(at[1] + 2 * r) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d2 = ((xx - at[0]) ** 2 + (yy - at[1]) ** 2) / (r * r)
    alpha = np.exp(-d2) if soft else np.clip((1.0 - d2) * 4.0, 0.0, 1.0)
    alpha = (opacity * alpha)[..., None]
    window = image[y0:y1, x0:x1].astype(np.float32)
    blended = window * (1.0 - alpha) + np.array(color, np.float32) * alpha
    image[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def gray_shade(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth signed brightness field for metal highlights (float32, about ±25)."""
    low = rng.random((max(2, height // 96), max(2, width // 96)), dtype=np.float32)
    return (cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC) - 0.5) * 50.0


def bbox_1based(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """x1,y1,x2,y2 (inclusive, 1-based, as in VQLA files) of a boolean mask, or None if empty."""
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    if w == 0 or h == 0:
        return None
    return x + 1, y + 1, x + w, y + h


def quadrant(box: tuple[int, int, int, int], width: int, height: int) -> str:
    """VQLA location answer of a box from its centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return ("left" if cx <= width / 2 else "right") + "-" + ("top" if cy <= height / 2 else "bottom")


# Fixed encoder settings: byte-identical output per seed, and the "up" filter with RLE encodes
# smooth synthetic textures 2-3x faster than OpenCV's adaptive default at a similar size.
PNG_PARAMS = [
    *(cv2.IMWRITE_PNG_COMPRESSION, 1),
    *(cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE),
    *(cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP),
]


def png_bytes(array: np.ndarray) -> bytes:
    """PNG with fixed parameters (deterministic); RGB arrays are given in RGB order."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(array), PNG_PARAMS)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
