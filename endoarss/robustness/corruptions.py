"""The 19 image corruptions of the EndoARSS robustness benchmark, severities 1-5 (paper §IV, Table VII).

`corrupt(image, name, severity, seed)` takes and returns a uint8 HxWx3 RGB array of any size (at least
32x32, as `imagecorruptions` requires), deterministic for a given seed, leaving numpy's global RNG
untouched. `corrupt_pair` also carries a segmentation mask along.

Where each corruption comes from (see the module docstrings for details):

- `imagecorruptions` 1.1.2 (ImageNet-C parameters), called as-is: gaussian_noise, shot_noise,
  speckle_noise, defocus_blur, motion_blur (pure numpy in 1.1.2, no ImageMagick), zoom_blur,
  brightness, contrast, jpeg_compression, pixelate, saturate.
- Compatibility shims in `imagenet_c.py`, same parameters and, for the same seed, the same output
  as the reference where the reference runs: gaussian_blur and glass_blur (the reference passes
  `multichannel=True`, removed from scikit-image), impulse_noise (the reference's skimage RNG is
  unseeded), elastic_transform (re-implemented to expose its displacement field for masks),
  spatter (severities 1-3 equal the reference; 4-5 put ImageNet-C's mud over severity 3's water) and
  glass_blur with shuffle iterations 1,1,2,2,2 instead of 2,1,3,2,2 (see `imagenet_c.py`).
- Ours: gamma (the release's values, out = 255 * (x / 255) ** gamma, rounded), and the surgical
  occlusions bleeding and smoke (`occlusion.py`).

Not monotone by design: `gamma` (gamma 1.6 -> 0.6 crosses 1 between severity 3 and 4) and `saturate`
(ImageNet-C scales saturation by 0.3, 0.1, 2, 5, 20). Every other corruption changes the image more
(mean absolute difference from the clean frame) at every higher severity; `glass_blur` and `spatter`
needed small departures from ImageNet-C for that (`imagenet_c.py` docstring).

Masks: only `elastic_transform` moves geometry; its displacement is applied to the mask with
nearest-neighbour sampling. `zoom_blur` averages zoomed copies with the original (a blur centred on
the original geometry) and `pixelate`/`jpeg` keep geometry, so their masks stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from endoarss.errors import ConfigError
from endoarss.robustness import imagenet_c, occlusion


class CorruptionError(ConfigError, ValueError):
    """Unknown corruption name, severity outside 1..5, bad seed, or an image we cannot corrupt."""


# Name -> family, in the paper's order (Table VII).
CORRUPTIONS: dict[str, str] = {
    "gaussian_noise": "noise",
    "shot_noise": "noise",
    "impulse_noise": "noise",
    "speckle_noise": "noise",
    "defocus_blur": "blur",
    "gaussian_blur": "blur",
    "glass_blur": "blur",
    "motion_blur": "blur",
    "zoom_blur": "blur",
    "bleeding": "occlusion",
    "brightness": "occlusion",
    "smoke": "occlusion",
    "spatter": "occlusion",
    "contrast": "digital",
    "elastic_transform": "digital",
    "gamma": "digital",
    "jpeg_compression": "digital",
    "pixelate": "digital",
    "saturate": "digital",
}

FAMILIES: dict[str, list[str]] = {}
for _name, _family in CORRUPTIONS.items():
    FAMILIES.setdefault(_family, []).append(_name)

SEVERITIES = (1, 2, 3, 4, 5)
GAMMA = (1.6, 1.4, 1.2, 0.8, 0.6)  # the release's values for severity 1..5
# Corruptions whose output does not depend on the seed.
DETERMINISTIC = frozenset(
    {
        "defocus_blur",
        "gaussian_blur",
        "zoom_blur",
        "brightness",
        "contrast",
        "gamma",
        "jpeg_compression",
        "pixelate",
        "saturate",
    }
)
MIN_SIZE = 32  # imagecorruptions' own lower bound on height and width

_Corruption = Callable[[np.ndarray, int, int], np.ndarray]


def gamma(image: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    """Gamma correction out = 255 * (x / 255) ** gamma, rounded to the nearest integer."""
    del seed  # deterministic
    lut = np.rint(255.0 * (np.arange(256) / 255.0) ** GAMMA[severity - 1])
    return lut.astype(np.uint8)[image]


def _reference(name: str) -> _Corruption:
    def run(image: np.ndarray, severity: int, seed: int) -> np.ndarray:
        return imagenet_c.reference_corruption(name, image, severity, seed)

    run.__name__ = name
    return run


_FUNCTIONS: dict[str, _Corruption] = {name: _reference(name) for name in imagenet_c.REFERENCE_NAMES}
_FUNCTIONS.update(
    {
        "impulse_noise": imagenet_c.impulse_noise,
        "gaussian_blur": imagenet_c.gaussian_blur,
        "glass_blur": imagenet_c.glass_blur,
        "elastic_transform": imagenet_c.elastic_transform,
        "gamma": gamma,
        "bleeding": occlusion.bleeding,
        "smoke": occlusion.smoke,
    }
)
assert set(_FUNCTIONS) == set(CORRUPTIONS)


def check_options(name: str, severity: int, seed: int = 0) -> None:
    """Raise CorruptionError (a ValueError) unless `name`, `severity` and `seed` are valid."""
    if name not in CORRUPTIONS:
        raise CorruptionError(f"unknown corruption {name!r}; valid names: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise CorruptionError(f"severity must be an integer in 1..5, got {severity!r} (corruption {name!r})")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise CorruptionError(f"seed must be an integer in [0, 2**32), got {seed!r}")


def _check(image: np.ndarray, name: str, severity: int, seed: int) -> None:
    check_options(name, severity, seed)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise CorruptionError(f"image must be a uint8 HxWx3 RGB array, got {got}")
    if min(image.shape[:2]) < MIN_SIZE:
        size = f"{image.shape[1]}x{image.shape[0]}"
        raise CorruptionError(f"image must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {size}")


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Apply corruption `name` at `severity` (1..5) to a uint8 HxWx3 RGB image; same shape out.

    The result depends only on (image, name, severity, seed); numpy's global RNG state is restored.
    Raises CorruptionError (an EndoarssError and a ValueError; the message lists the valid names)
    for an unknown name, a severity outside 1..5, a seed outside [0, 2**32), or an image that is not
    uint8 HxWx3 of at least 32x32.
    """
    _check(image, name, severity, seed)
    out = _FUNCTIONS[name](np.ascontiguousarray(image), int(severity), int(seed))
    assert out.shape == image.shape and out.dtype == np.uint8, (name, out.shape, out.dtype)
    return out


def corrupt_pair(
    image: np.ndarray, mask: np.ndarray, name: str, severity: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt `image` and carry its HxW label `mask` along.

    The mask is returned unchanged (same object) except for `elastic_transform`, the only corruption
    that moves geometry: there the image's displacement field warps the mask with nearest-neighbour
    sampling, so labels stay valid class ids and stay aligned with the warped image.
    """
    _check(image, name, severity, seed)
    if mask.shape != image.shape[:2]:
        raise CorruptionError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    if name != "elastic_transform":
        return corrupt(image, name, severity, seed), mask
    warped_image, warped_mask = imagenet_c.elastic_pair(image, mask, int(severity), int(seed))
    assert warped_mask is not None
    return warped_image, warped_mask
