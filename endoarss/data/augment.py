"""Pure image/mask transforms for training and evaluation (numpy uint8 in, numpy uint8 out).

Geometry (flip, scale/crop, resize) is applied identically to the image and its mask; the mask always
uses nearest-neighbour interpolation so class ids (and the ignore id 255) are never blended. Colour
jitter touches the image only. Random parameters are drawn from an explicit ``numpy.random.Generator``
so the trainer can seed it from (seed, epoch, sample index): the augmentation of a sample is then the
same whatever the number of DataLoader workers or ranks, which exact resume relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentParams:
    """Training augmentation knobs (the release used scales 1.0-1.5 and horizontal flips)."""

    hflip: bool = True
    scale_range: tuple[float, float] = (1.0, 1.5)
    color_jitter: float = 0.2  # max relative change of brightness, contrast and saturation


@dataclass(frozen=True)
class AugmentDraw:
    """One sample's random choices; kept as data so tests can apply a known draw."""

    flip: bool
    crop: tuple[int, int, int, int]  # top, left, height, width in the source image
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0


def draw_augment(rng: np.random.Generator, params: AugmentParams, height: int, width: int) -> AugmentDraw:
    """Draw flip, a random crop of 1/scale of each side, and jitter factors."""
    flip = bool(params.hflip and rng.random() < 0.5)
    lo, hi = params.scale_range
    scale = float(rng.uniform(lo, hi)) if hi > lo else lo
    ch, cw = max(1, round(height / scale)), max(1, round(width / scale))
    top = int(rng.integers(0, height - ch + 1))
    left = int(rng.integers(0, width - cw + 1))
    j = params.color_jitter
    factors = rng.uniform(1.0 - j, 1.0 + j, size=3) if j > 0 else np.ones(3)
    return AugmentDraw(flip, (top, left, ch, cw), *(float(f) for f in factors))


def apply_geometry(image: np.ndarray, mask: np.ndarray, draw: AugmentDraw) -> tuple[np.ndarray, np.ndarray]:
    """Crop then flip both arrays with the same box (image HxWx3, mask HxW)."""
    top, left, h, w = draw.crop
    image = image[top : top + h, left : left + w]
    mask = mask[top : top + h, left : left + w]
    if draw.flip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as PIL/torchvision grey


def jitter_colors(image: np.ndarray, draw: AugmentDraw) -> np.ndarray:
    """Brightness, then contrast (around the mean grey), then saturation (around per-pixel grey).

    The three steps are linear in the pixel, so they fold into one 3x4 colour matrix applied by
    ``cv2.transform`` with rounding and clipping once at the end: ~20x faster than three float32 passes
    and within one grey level of them.
    """
    if draw.brightness == draw.contrast == draw.saturation == 1.0:
        return image
    b, c, s = draw.brightness, draw.contrast, draw.saturation
    mean_grey = b * float(np.dot(cv2.mean(image)[:3], GREY_WEIGHTS))
    matrix = s * c * b * np.eye(3) + (1 - s) * c * b * np.outer(np.ones(3), GREY_WEIGHTS)
    return cv2.transform(image, np.hstack([matrix, np.full((3, 1), (1 - c) * mean_grey)]))


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB image to (height, width): area filter when shrinking (less aliasing), else bilinear."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] and w < image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a class-id mask to (height, width)."""
    h, w = size
    if mask.shape[:2] == (h, w):
        return mask
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


def train_transform(
    image: np.ndarray,
    mask: np.ndarray,
    size: tuple[int, int],
    params: AugmentParams,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale/crop + flip (image and mask alike), resize to the model input, colour jitter (image).

    The input is the frame at its working size (``endoarss.data.frames.working_size``), and jitter runs after
    the resize, on the fewest pixels. Both, and the one-matrix jitter, changed the pixels once (by a
    level or so; the mean grey that contrast uses is taken on the resized crop), which is why a run
    started before the decoded-sample cache does not resume bit-exactly on this version.
    """
    draw = draw_augment(rng, params, *image.shape[:2])
    image, mask = apply_geometry(image, mask, draw)
    return jitter_colors(resize_image(image, size), draw), resize_mask(mask, size)
