"""Input checks shared by every metric, and the one rule for ignore-index pixels.

Metrics silently accept garbage far too easily (a class id one past the end just lands in a
bigger bincount), so every array is validated here once, with a message naming the value.
"""

from __future__ import annotations

import numpy as np

from endoarss.errors import EndoarssError

IGNORE_INDEX = 255
"""Ground-truth pixels with this value are unlabeled (same value as the segmentation loss ignores)."""


class MetricInputError(EndoarssError, ValueError):
    """Predictions or labels handed to a metric have the wrong shape, dtype or values.

    Also a ValueError, because that is what callers of a numeric function expect to catch.
    """


def as_int_array(values: object, name: str, ndim: int) -> np.ndarray:
    """Convert to an int64 numpy array of the given rank (accepts lists and CPU tensors)."""
    arr = np.asarray(values)
    if arr.ndim != ndim:
        raise MetricInputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)):
        raise MetricInputError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_range(arr: np.ndarray, name: str, num_classes: int, allow_ignore: bool) -> None:
    """Raise if any value is outside [0, num_classes) (255 allowed in ground-truth masks)."""
    bad = (arr < 0) | (arr >= num_classes)
    if allow_ignore:
        bad &= arr != IGNORE_INDEX
    if bad.any():
        value = int(arr[bad].flat[0])
        raise MetricInputError(
            f"{name} contains class id {value}, outside [0, {num_classes})"
            + (f" and not the ignore index {IGNORE_INDEX}" if allow_ignore else "")
        )


def fill_ignored(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Ground truth with ignore pixels replaced by the prediction there.

    Why: HD and SSIM are defined on whole label maps, so ignore pixels cannot simply be
    dropped. Copying the prediction makes those pixels agree, so they add no error and no
    ground-truth boundary of their own; the confusion matrices instead exclude them.
    """
    ignored = true == IGNORE_INDEX
    if not ignored.any():
        return true
    return np.where(ignored, pred, true)
