"""predict(): the masks/ overlays/ activities.csv folder the Label Studio export reads."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from endoarss.data import DataError
from endoarss.predict import overlay, predict
from schemas.labelmaps import MTLENDOVIS
from tests.endoarss.conftest import make_frame


def _images(folder: Path) -> list[Path]:
    rng = np.random.default_rng(1)
    folder.mkdir()
    paths = []
    for name, act, cls, size in (("a", 0, 1, (64, 80)), ("b", 3, 2, (50, 70)), ("c", 10, 4, (90, 60))):
        image, _ = make_frame(rng, act, cls, size)
        path = folder / f"{name}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def test_prediction_folder_format(tiny_run, tmp_path: Path) -> None:
    images = _images(tmp_path / "in")
    out = predict(tiny_run[0], images, tmp_path / "pred", batch_size=2)
    for path in images:
        src = np.asarray(Image.open(path))
        mask = Image.open(out / "masks" / f"{path.stem}.png")
        assert mask.mode == "L" and mask.size == (src.shape[1], src.shape[0])  # original size
        assert np.asarray(mask).max() < MTLENDOVIS.num_classes
        ov = Image.open(out / "overlays" / f"{path.stem}.png")
        assert ov.mode == "RGB" and ov.size == mask.size
        expected = overlay(src, np.asarray(mask), MTLENDOVIS)
        np.testing.assert_array_equal(np.asarray(ov), expected)
    with (out / "activities.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["frame", "activity", *MTLENDOVIS.activities]
    assert [r[0] for r in rows[1:]] == ["a", "b", "c"]
    for row in rows[1:]:
        probs = [float(x) for x in row[2:]]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert row[1] == MTLENDOVIS.activities[int(np.argmax(probs))]


def test_overlay_colours_foreground_only() -> None:
    image = np.full((2, 2, 3), 100, np.uint8)
    mask = np.array([[0, 1], [4, 0]], np.uint8)
    out = overlay(image, mask, MTLENDOVIS, alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(out[0, 1], [50, 178, 50])  # (100 + (0, 255, 0)) / 2, rounded half to even
    np.testing.assert_array_equal(out[1, 0], [178, 78, 50])  # class 4 colour (255, 55, 0)


def test_duplicate_stems_and_unreadable_images(tiny_run, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a, b = tmp_path / "x" / "f.png", tmp_path / "y" / "f.png"
    for p in (a, b):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(p)
    with pytest.raises(DataError, match="share the file stem"):
        predict(tiny_run[0], [a, b], tmp_path / "o")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png: not a readable image"):
        predict(tiny_run[0], [bad], tmp_path / "o2")
