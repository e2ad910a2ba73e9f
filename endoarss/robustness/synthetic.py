"""A synthetic, surgical-looking RGB frame: pink textured tissue, vessels, specular glints, a grey tool.

Used to test corruptions on realistic colour statistics (saturated reds, highlights, dark borders),
to preview how `bleeding` and `smoke` look, and by the benchmark. Not a dataset generator.
"""

from __future__ import annotations

import cv2
import numpy as np

from endoarss.robustness.occlusion import fractal_noise


def tissue_frame(height: int, width: int, seed: int = 0, tool: bool = True) -> np.ndarray:
    """Return a uint8 (height, width, 3) frame that looks like an endoscopic view of tissue."""
    rng = np.random.default_rng(seed)
    shape = (height, width)
    texture = fractal_noise(shape, rng, base_cells=3, octaves=6, persistence=0.55)[..., None]
    lobes = fractal_noise(shape, rng, base_cells=1, octaves=2, persistence=0.5)[..., None]
    pale, deep = np.array([0.93, 0.62, 0.58]), np.array([0.62, 0.22, 0.22])
    rgb = deep + (pale - deep) * (0.55 * texture + 0.45 * lobes)

    # Vessels: thin dark-red ridges of a fine noise field's level lines.
    veins = fractal_noise(shape, rng, base_cells=4, octaves=3, persistence=0.5)
    vessel = np.exp(-(((veins - 0.5) / 0.012) ** 2))[..., None]
    rgb = rgb * (1 - 0.45 * vessel) + np.array([0.45, 0.08, 0.1]) * 0.45 * vessel

    if tool:
        # A metallic shaft entering from the lower right.
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        ny, nx = yy / height, xx / width
        dist = np.abs((ny - 0.55) - 0.7 * (nx - 0.55)) / np.hypot(1.0, 0.7)
        shaft = ((dist < 0.07) & (nx > 0.5)).astype(np.float32)
        shaft = cv2.GaussianBlur(shaft, (0, 0), max(min(shape) * 0.003, 0.5))[..., None]
        metal = 0.55 + 0.3 * np.cos(dist / 0.07 * np.pi)[..., None] * np.array([1.0, 1.0, 1.02])
        rgb = rgb * (1 - shaft) + metal * shaft

    # Specular glints on wet tissue.
    glints = np.zeros(shape, dtype=np.float32)
    for cy, cx, r in zip(
        rng.uniform(0, height, 14), rng.uniform(0, width, 14), rng.uniform(0.004, 0.012, 14), strict=True
    ):
        cv2.circle(glints, (int(cx), int(cy)), max(int(r * min(shape)), 1), 1.0, -1)
    glints = cv2.GaussianBlur(glints, (0, 0), max(min(shape) * 0.004, 0.5))[..., None]
    rgb = rgb + (1 - rgb) * np.clip(glints * 1.5, 0, 1)

    # Endoscope vignetting.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((yy / height - 0.5) * 2) ** 2 + ((xx / width - 0.5) * 2) ** 2
    rgb = rgb * np.clip(1.1 - 0.45 * r2, 0.15, 1.0)[..., None]
    return np.uint8(np.clip(np.rint(rgb * 255), 0, 255))
