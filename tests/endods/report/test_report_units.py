"""Units of the report: dHash, near-duplicate search, overlay blending, overlay frame choice."""

from __future__ import annotations

import cv2
import numpy as np

from endods.report.leakage import dhash, hamming, near_duplicates, shared_groups
from endods.report.overlays import ALPHA, overlay
from schemas.labelmaps import MTLENDOVIS


def test_dhash_bits_by_hand():
    ramp = np.tile(np.arange(0, 90, dtype=np.uint8) * 2, (80, 1))  # brighter to the right: every bit set
    assert dhash(ramp).tolist() == [255] * 8
    assert dhash(ramp[:, ::-1]).tolist() == [0] * 8
    assert hamming(dhash(ramp)[None], dhash(ramp[:, ::-1])[None]).tolist() == [[64]]


def test_dhash_survives_noise_and_resize():
    rng = np.random.default_rng(1)
    base = cv2.resize(rng.integers(0, 255, (6, 7, 3), dtype=np.uint8), (280, 240), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(base.astype(int) + rng.integers(-4, 5, base.shape), 0, 255).astype(np.uint8)
    half = cv2.resize(base, (140, 120), interpolation=cv2.INTER_AREA)
    h = np.stack([dhash(base), dhash(noisy), dhash(half), dhash(base[:, ::-1])])
    d = hamming(h[:1], h)[0]
    assert d[0] == 0 and d[1] <= 3 and d[2] <= 3 and d[3] > 20


def test_near_duplicates_picks_closest_within_threshold():
    train = np.array([[0] * 8, [255] * 8, [15] + [0] * 7], np.uint8)
    test = np.array([[1] + [0] * 7, [255] * 7 + [0], [0xAA] * 8], np.uint8)
    found = near_duplicates(["t0", "t1", "t2"], test, ["a", "b", "c"], train, max_distance=8)
    assert [(n.test_frame, n.train_frame, n.distance) for n in found] == [("t0", "a", 1), ("t1", "b", 8)]


def test_shared_groups():
    assert shared_groups({"a": {"train": 1, "test": 0}, "b": {"train": 2, "test": 3}}) == ["b"]


def test_overlay_blends_class_colour_and_outlines():
    image = np.full((40, 40, 3), 100, np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1  # Bipolar Forceps, (0, 255, 0)
    mask[0:4, 0:4] = 255
    out = overlay(image, mask, MTLENDOVIS)
    expected = np.round(100 * (1 - ALPHA) + np.array([0, 255, 0]) * ALPHA)
    assert out[20, 20].tolist() == expected.tolist()
    assert out[35, 35].tolist() == [100, 100, 100]  # background untouched
    assert out[1, 1].tolist() == [round(100 * (1 - ALPHA) + 255 * ALPHA)] * 3  # ignore whitened
    assert out[10, 20].tolist() != expected.tolist()  # boundary drawn as a contour
