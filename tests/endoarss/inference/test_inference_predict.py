"""predict() / predict_split(): the masks/ overlays/ activities.csv folder the Label Studio export reads."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from endoarss.data.dataset import DataError
from endoarss.inference.predict import overlay, predict, predict_split
from endods.labelstudio.predictions import frame_stem, load_predictions, read_prediction_mask
from schemas.dataset import open_dataset
from schemas.labelmaps import MTLENDOVIS
from schemas.outputs import OutputError
from tests.endoarss.conftest import TINY_SIZE, make_frame


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


def test_predict_split_feeds_the_labelstudio_export(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    """Outputs named by frame stem at stored resolution; load_predictions matches every test frame."""
    events: list[tuple[int, int]] = []
    out = predict_split(
        tiny_run[0],
        tiny_dataset,
        "test",
        out=tmp_path / "pred",
        batch_size=3,
        on_progress=lambda d, t: events.append((d, t)),
    )
    assert events == [(3, 8), (6, 8), (8, 8)]
    ds = open_dataset(tiny_dataset)
    records = list(ds.records("test"))
    stems = [frame_stem(r.frame_id) for r in records]
    assert stems[:2] == ["seq_test__frame000", "seq_test__frame001"] and len(stems) == 8
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(f"{s}.png" for s in stems)
    with (out / "activities.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["frame", "activity", *MTLENDOVIS.activities]
    assert [r[0] for r in rows[1:]] == [r.frame_id for r in records]  # full frame ids, split order
    for row in rows[1:]:
        assert sum(float(x) for x in row[2:]) == pytest.approx(1.0, abs=1e-4)
    preds = load_predictions(out, ds.labelmap)  # what `endods labelstudio export --predictions` does
    assert set(preds) == set(stems)
    for record, row in zip(records, rows[1:], strict=True):
        image = np.asarray(Image.open(io.BytesIO(record.image)))
        assert image.shape[:2] == TINY_SIZE
        mask = read_prediction_mask(preds[frame_stem(record.frame_id)], TINY_SIZE, ds.labelmap)  # stored size
        expected = overlay(image, mask, MTLENDOVIS)
        np.testing.assert_array_equal(
            np.asarray(Image.open(out / "overlays" / f"{frame_stem(record.frame_id)}.png")), expected
        )
        assert preds[frame_stem(record.frame_id)].activity == MTLENDOVIS.activity_index(row[1])


def test_predict_split_limit_matches_image_files(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    """The first N frames, with the same outputs as predicting the same frames saved as image files."""
    out = predict_split(tiny_run[0], tiny_dataset, out=tmp_path / "split", limit=2)
    records = list(open_dataset(tiny_dataset).records("test"))[:2]
    (tmp_path / "files").mkdir()
    files = []
    for record in records:
        files.append(tmp_path / "files" / f"{frame_stem(record.frame_id)}.png")
        files[-1].write_bytes(record.image)
    ref = predict(tiny_run[0], files, tmp_path / "ref")
    assert sorted(p.name for p in (out / "masks").iterdir()) == [p.name for p in files]
    for path in files:
        np.testing.assert_array_equal(
            np.asarray(Image.open(out / "masks" / path.name)), np.asarray(Image.open(ref / "masks" / path.name))
        )
    split_rows = list(csv.reader((out / "activities.csv").open()))
    ref_rows = list(csv.reader((ref / "activities.csv").open()))
    assert [r[0] for r in split_rows[1:]] == [r.frame_id for r in records]
    assert [r[1:] for r in split_rows] == [r[1:] for r in ref_rows]


def _folder_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_predict_split_through_the_cache_writes_the_same_files(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    """predict --data reads the decoded-sample cache like eval: cached, cache-filling and uncached runs
    write byte-identical folders, and the second cached run builds nothing new."""
    cache = tmp_path / "cache"
    plain = predict_split(tiny_run[0], tiny_dataset, out=tmp_path / "plain", batch_size=3, cache="off")
    assert not cache.exists()
    filled = predict_split(tiny_run[0], tiny_dataset, out=tmp_path / "fill", batch_size=3, cache=str(cache))
    entries = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    assert len(entries) == 1 and "-test-eval-" in entries[0]  # the entry eval uses at this size
    written = (cache / entries[0] / "index.json").stat().st_mtime_ns
    again = predict_split(tiny_run[0], tiny_dataset, out=tmp_path / "again", batch_size=3, cache=str(cache))
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == entries
    assert (cache / entries[0] / "index.json").stat().st_mtime_ns == written  # read back, not rebuilt
    reference = _folder_bytes(plain)
    assert len([f for f in reference if f.startswith("masks/")]) == 8
    assert _folder_bytes(filled) == reference
    assert _folder_bytes(again) == reference


def test_predict_split_errors(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="limit must be at least 1, got 0"):
        predict_split(tiny_run[0], tiny_dataset, out=tmp_path / "o", limit=0)
    with pytest.raises(DataError, match=r"no data/val-\*.parquet files"):
        predict_split(tiny_run[0], tiny_dataset, "val", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def _listing(out: Path) -> dict[str, list[str]]:
    return {d: sorted(p.name for p in (out / d).iterdir()) for d in ("masks", "overlays")}


def test_a_new_prediction_replaces_the_old_folder(tiny_run, tmp_path: Path) -> None:
    """Predicting into an earlier OUT used to keep its stale masks beside the new activities.csv."""
    a, b, c = _images(tmp_path / "in")
    out = tmp_path / "pred"
    predict(tiny_run[0], [a, b, c], out)
    predict(tiny_run[0], [a], out)
    assert _listing(out) == {"masks": ["a.png"], "overlays": ["a.png"]}
    assert [r[0] for r in csv.reader((out / "activities.csv").open())] == ["frame", "a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "pred"]  # no staging folder left behind
    bad = tmp_path / "in" / "zz.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="zz.png: not a readable image"):
        predict(tiny_run[0], [b, bad], out)  # fails half-way: the previous output stays whole
    assert _listing(out) == {"masks": ["a.png"], "overlays": ["a.png"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "pred"]


def test_predict_refuses_a_foreign_folder_or_a_file(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    (a, *_) = _images(tmp_path / "in")
    notes = tmp_path / "mine" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("keep")
    # issue 16 case 4: a folder predict did not write is never replaced, --overwrite or not
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=r"mine already exists and is not a previous `endods predict` output"):
            predict(tiny_run[0], [a], notes.parent, overwrite=overwrite)
        with pytest.raises(OutputError, match="even with --overwrite"):
            predict_split(tiny_run[0], tiny_dataset, out=notes.parent, limit=1, overwrite=overwrite)
    assert notes.read_text() == "keep"
    with pytest.raises(OutputError, match="is inside the dataset"):  # issue 16 case 17, for predict
        predict_split(tiny_run[0], tiny_dataset, out=tiny_dataset / "preds", limit=1)
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(OutputError, match="file.txt exists and is a file, not a folder"):
        predict(tiny_run[0], [a], afile)
    assert afile.read_text() == "x"
