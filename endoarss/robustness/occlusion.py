"""The two surgical occlusions that ImageNet-C lacks: `bleeding` and `smoke` (paper §IV robustness).

Both are rendered in resolution-independent coordinates (positions and sizes are fractions of the
frame), from a `numpy.random.Generator` seeded with the caller's seed, so the same (image, seed)
gives the same corruption at any severity and the global numpy RNG is never touched.

Severity monotonicity is by construction: every severity draws the *same* random scene and only
scales it up, so severity s+1 covers at least what severity s covers, and at least as strongly.

- bleeding: blood drops (irregular blobs with a dome thickness profile) and drips (tapering
  streaks running roughly downwards from a drop). Blood is composited with a Beer-Lambert-like
  model: the tissue seen through a film of thickness t is multiplied by exp(-t * absorption), where
  blood absorbs green/blue far more than red, then mixed towards dark venous red as the film gets
  opaque, plus a small wet specular highlight. Thin blood therefore reads bright red, thick blood
  dark red, which is how blood on the lens or tissue looks in endoscopy.
- smoke: surgical (electrocautery) smoke as a low-frequency fractal density field blended towards a
  warm grey-white, with light scattering (the scene under dense smoke is blurred and loses
  contrast). The density's floor and gain grow with severity, so severity 5 is a near-whiteout.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import cv2
import numpy as np

# Count of drops and their radius (fraction of min(H, W)) per severity 1..5.
BLEEDING_COUNT = (3, 6, 10, 15, 22)
BLEEDING_RADIUS = (0.035, 0.045, 0.055, 0.065, 0.08)
BLEEDING_DRIP_FRACTION = 0.6  # share of drops that run into a drip
# Blood optics: per-channel absorption of a unit-thickness film (R, G, B) and the colour it tends to.
BLOOD_ABSORPTION = np.array([0.9, 5.0, 5.5])
BLOOD_DEEP_RGB = np.array([0.32, 0.02, 0.03])

# Smoke density = clip(floor + gain * fractal, 0, 1) * opacity, per severity 1..5.
SMOKE_FLOOR = (-0.25, -0.08, 0.1, 0.28, 0.45)
SMOKE_GAIN = (0.9, 1.0, 1.1, 1.2, 1.3)
SMOKE_OPACITY = (0.55, 0.68, 0.78, 0.86, 0.93)
SMOKE_RGB = np.array([0.86, 0.85, 0.83])


def fractal_noise(
    shape: tuple[int, int],
    rng: np.random.Generator,
    base_cells: int = 3,
    octaves: int = 5,
    persistence: float = 0.55,
) -> np.ndarray:
    """Smooth value noise summed over octaves, scaled to [0, 1]; cell counts do not depend on the size.

    Each octave is a random grid with 2**o times more cells, upsampled bicubically, so the pattern
    looks the same at 224x224 and at 1280x1024 (only sharper).
    """
    height, width = shape
    aspect = width / height
    total = np.zeros(shape, dtype=np.float32)
    for octave in range(octaves):
        cells_y = base_cells * 2**octave
        cells_x = max(1, round(cells_y * aspect))
        grid = rng.standard_normal((cells_y + 3, cells_x + 3)).astype(np.float32)
        up = cv2.resize(
            grid,
            (width + 3 * width // cells_x, height + 3 * height // cells_y),
            interpolation=cv2.INTER_CUBIC,
        )
        offset_y, offset_x = height // cells_y, width // cells_x  # drop the border cells' edge effects
        total += persistence**octave * up[offset_y : offset_y + height, offset_x : offset_x + width]
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _drop(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, radius: float, shape_coeffs: np.ndarray) -> np.ndarray:
    """Dome thickness (0..1) of an irregular drop: radius modulated by a few angular harmonics."""
    dy, dx = yy - cy, xx - cx
    theta = np.arctan2(dy, dx)
    wobble = np.ones_like(theta)
    for k, (amp, phase) in zip((2, 3, 4), shape_coeffs, strict=False):
        wobble += amp * np.cos(k * theta + phase)
    d = np.sqrt(dy * dy + dx * dx) / (radius * wobble)
    return np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0))


def _drip(
    yy: np.ndarray,
    xx: np.ndarray,
    start: tuple[float, float],
    angle: float,
    length: float,
    width: float,
    wave: float,
) -> np.ndarray:
    """Thickness of a streak running from `start` along `angle`, tapering to a thin thread, with a bead."""
    sy, sx = start
    uy, ux = np.cos(angle), np.sin(angle)  # angle 0 = straight down
    rel_y, rel_x = yy - sy, xx - sx
    along = rel_y * uy + rel_x * ux
    t = np.clip(along / length, 0.0, 1.0)
    across = -rel_y * ux + rel_x * uy - wave * width * np.sin(t * np.pi * 2.0)
    half_width = width * (1.0 - 0.65 * t)
    inside = (along >= 0) & (along <= length)
    streak = np.where(inside, np.sqrt(np.clip(1.0 - (across / half_width) ** 2, 0.0, 1.0)), 0.0)
    bead = _drop(yy, xx, sy + uy * length, sx + ux * length, width * 0.6, np.zeros((0, 2)))
    return np.maximum(streak * (0.7 - 0.3 * t), bead * 0.8)


def _stamp(
    canvas: np.ndarray,
    box: tuple[float, float, float, float],
    pad: float,
    depth: float,
    render: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> None:
    """Max-composite `depth * render(yy, xx)` into `canvas`, evaluated only on the padded bounding box
    (y0, x0, y1, x1) of the primitive: full-frame evaluation per drop made 1280x1024 ~10x slower."""
    ya, xa, yb, xb = box
    y0, y1 = int(max(min(ya, yb) - pad, 0)), int(min(max(ya, yb) + pad, canvas.shape[0] - 1)) + 1
    x0, x1 = int(max(min(xa, xb) - pad, 0)), int(min(max(xa, xb) + pad, canvas.shape[1] - 1)) + 1
    if y1 <= y0 or x1 <= x0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    window = canvas[y0:y1, x0:x1]
    np.maximum(window, depth * render(yy, xx), out=window)


def blood_thickness(shape: tuple[int, int], severity: int, seed: int) -> np.ndarray:
    """Blood film thickness map (0 = clean) for `shape`; nested across severities for the same seed."""
    height, width = shape
    rng = np.random.default_rng(seed)
    n_max = BLEEDING_COUNT[-1]
    # Draw the whole severity-5 scene first so every severity shares it.
    centers = rng.uniform((0.05, 0.05), (0.9, 0.95), size=(n_max, 2)) * (height, width)
    sizes = np.clip(rng.lognormal(0.0, 0.35, size=n_max), 0.5, 2.0)
    # Per drop, (amplitude, phase) of the 2nd, 3rd and 4th angular harmonic of its outline.
    shapes = rng.uniform(-1, 1, size=(n_max, 3, 2)) * np.array([[0.08, np.pi], [0.06, np.pi], [0.03, np.pi]])
    has_drip = rng.random(n_max) < BLEEDING_DRIP_FRACTION
    drip_angle = rng.normal(0.0, 0.2, size=n_max)
    drip_length = rng.uniform(1.5, 5.0, size=n_max)
    drip_wave = rng.uniform(-0.6, 0.6, size=n_max)
    depth = rng.uniform(0.6, 1.3, size=n_max)
    # Satellite droplets around each drop: (distance in radii, angle, radius fraction).
    satellites = np.stack(
        [
            rng.uniform(1.2, 2.2, (n_max, 4)),
            rng.uniform(0, 2 * np.pi, (n_max, 4)),
            rng.uniform(0.08, 0.22, (n_max, 4)),
        ],
        axis=-1,
    )

    unit = min(height, width) * BLEEDING_RADIUS[severity - 1]
    thickness = np.zeros(shape, dtype=np.float32)
    for i in range(BLEEDING_COUNT[severity - 1]):
        radius = unit * sizes[i]
        cy, cx = centers[i]
        drop = partial(_drop, cy=cy, cx=cx, radius=radius, shape_coeffs=shapes[i])
        _stamp(thickness, (cy, cx, cy, cx), radius * 1.3, depth[i], drop)
        if has_drip[i]:
            angle, length = drip_angle[i], radius * drip_length[i]
            start = (cy + 0.6 * radius * np.cos(angle), cx + 0.6 * radius * np.sin(angle))
            end = (start[0] + length * np.cos(angle), start[1] + length * np.sin(angle))
            drip = partial(_drip, start=start, angle=angle, length=length, width=radius * 0.35, wave=drip_wave[i])
            _stamp(thickness, (*start, *end), radius, depth[i], drip)
        for dist, angle, frac in satellites[i]:
            sy, sx, r = cy + dist * radius * np.sin(angle), cx + dist * radius * np.cos(angle), frac * radius
            droplet = partial(_drop, cy=sy, cx=sx, radius=r, shape_coeffs=shapes[i, :1])
            _stamp(thickness, (sy, sx, sy, sx), r * 1.3, 0.8 * depth[i], droplet)
    soften = max(unit * 0.04, 0.5)
    return cv2.GaussianBlur(thickness, (0, 0), soften)


def bleeding(image: np.ndarray, severity: int, seed: int) -> np.ndarray:
    """Synthetic blood drops and drips over the frame (uint8 HxWx3 in and out)."""
    height, width = image.shape[:2]
    t = blood_thickness((height, width), severity, seed)
    x = image.astype(np.float32) / 255.0
    film = t[..., None]
    transmitted = x * np.exp(-film * BLOOD_ABSORPTION)
    opacity = 1.0 - np.exp(-1.2 * film)  # thick blood hides the tissue
    shade = 0.8 + 0.4 * x.mean(-1, keepdims=True)
    out = transmitted * (1.0 - opacity) + BLOOD_DEEP_RGB * shade * opacity
    # Wet specular highlight (Blinn-Phong, light from the upper left): a small glint on each drop.
    unit = min(height, width) * BLEEDING_RADIUS[severity - 1]
    gy, gx = np.gradient(t * unit * 0.6)
    normal_dot = (0.35 * gx + 0.35 * gy + 1.0) / np.sqrt(gx * gx + gy * gy + 1.0) / np.sqrt(1.245)
    glint = np.clip(normal_dot, 0.0, 1.0) ** 60 * (t > 0.05)
    out = out + 0.7 * glint[..., None] * (1.0 - out)
    return np.uint8(np.clip(np.rint(out * 255.0), 0, 255))


def smoke_density(shape: tuple[int, int], severity: int, seed: int) -> np.ndarray:
    """Smoke opacity in [0, 1]: one billowy fractal field per seed, raised and amplified with severity."""
    height, width = shape
    rng = np.random.default_rng(seed)
    # Domain warping (sampling one fractal at coordinates displaced by two others) turns blobby
    # value noise into the curled, wispy structure of smoke plumes.
    strength = 0.15 * min(height, width)
    warp_y = fractal_noise(shape, rng, base_cells=2, octaves=2) - 0.5
    warp_x = fractal_noise(shape, rng, base_cells=2, octaves=2) - 0.5
    margin = int(np.ceil(strength / 2)) + 1  # displaced samples never leave the field: no mirror seams
    field = fractal_noise((height + 2 * margin, width + 2 * margin), rng, base_cells=2, octaves=6, persistence=0.6)
    yy, xx = np.mgrid[margin : margin + height, margin : margin + width].astype(np.float32)
    map_x, map_y = xx + strength * warp_x, yy + strength * warp_y
    billows = cv2.remap(field, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    billows = (billows - billows.min()) / max(float(billows.max() - billows.min()), 1e-6)
    billows = billows * billows * (3.0 - 2.0 * billows)  # smoothstep: denser cores, thinner edges
    s = severity - 1
    return np.clip(SMOKE_FLOOR[s] + SMOKE_GAIN[s] * billows, 0.0, 1.0) * SMOKE_OPACITY[s]


def smoke(image: np.ndarray, severity: int, seed: int) -> np.ndarray:
    """Surgical smoke haze over the frame (uint8 HxWx3 in and out)."""
    height, width = image.shape[:2]
    alpha = smoke_density((height, width), severity, seed)[..., None]
    x = image.astype(np.float32) / 255.0
    # Scattering: what is seen through smoke is blurred; the blur is fixed so that only alpha
    # changes with severity (keeps the result monotone in severity pixel by pixel).
    scattered = cv2.GaussianBlur(x, (0, 0), max(min(height, width) * 0.01, 0.5))
    veil = SMOKE_RGB * (0.9 + 0.1 * alpha)  # denser smoke is a touch brighter
    out = x + alpha * (0.2 * scattered + 0.8 * veil - x)
    return np.uint8(np.clip(np.rint(out * 255.0), 0, 255))
