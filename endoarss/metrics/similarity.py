"""Standard SSIM between predicted and ground-truth class-index maps.

scikit-image is imported lazily: it is only needed here, and some training boxes lack it.
"""

from __future__ import annotations

import numpy as np

DEFAULT_WINDOW = 7
"""skimage's default SSIM window side."""


def ssim_window(shape: tuple[int, ...]) -> int | None:
    """Window side for an image: the default 7, shrunk to the largest odd side that fits.

    Why: skimage refuses images smaller than its window, and tiny synthetic test configs use
    such images. Real label maps (>= 7 px) always get the default. None = too small (< 3 px),
    the image then has no SSIM and is left out of the mean.
    """
    side = min(DEFAULT_WINDOW, *shape)
    if side % 2 == 0:
        side -= 1
    return side if side >= 3 else None


def ssim_map_pair(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """skimage `structural_similarity` of two label maps (NaN if too small for any window)."""
    from skimage.metrics import structural_similarity

    win = ssim_window(a.shape)
    if win is None:
        return float("nan")
    return float(structural_similarity(a, b, data_range=data_range, win_size=win))


def ssim_standard(pred: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """SSIM with data_range = num_classes - 1, the full span of possible class ids.

    A fixed range (unlike the release's per-image pred range) keeps images comparable and is
    never zero, so no image is silently dropped.
    """
    return ssim_map_pair(pred.astype(np.float64), true.astype(np.float64), float(num_classes - 1))
