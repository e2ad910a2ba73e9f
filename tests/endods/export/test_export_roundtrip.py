"""Export to the released EndoARSS layout and back: the records come back equal (issue 5 acceptance)."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.dataset import open_dataset
from endods.errors import DatasetError
from endods.export import (
    SUMMARY_NAME,
    export_dataset,
    export_endoarss,
    parse_release_name,
    release_mask,
    release_name,
)
from endods.import_folder import import_endoarss_folder
from endods.pngio import decode_png
from schemas.outputs import OutputError


def _records(path: Path) -> dict[str, tuple]:
    ds = open_dataset(path)
    out = {}
    for split in ds.splits:
        for r in ds.records(split):
            image = cv2.cvtColor(decode_png(r.image, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            out[r.frame_id] = (split, r.activity, r.group, r.source, image, decode_png(r.mask))
    return out


@pytest.mark.parametrize(
    ("frame_id", "dataset", "name", "group"),
    [
        ("seq_2/frame042", "mtlendovis", "seq2_frame042", "seq_2"),
        ("instrument_dataset_3/frame007", "mtlendovis-gen", "seq3_frame007", "instrument_dataset_3"),
        ("ESD_01/000012", "mtlesd", "ESD_01_000012", "ESD_01"),
        ("video_07/000123", "mtlesd", "video_07_000123", "video_07"),
    ],
)
def test_release_names_round_trip(frame_id, dataset, name, group):
    assert release_name(frame_id) == name
    assert parse_release_name(name, dataset) == (frame_id, group)


def test_unparsable_name_becomes_frame_id_and_group():
    assert release_name("odd/name/x") == "odd_name_x"
    assert parse_release_name("odd_name_x", "mtlendovis") == ("odd_name_x", "odd_name_x")
    assert parse_release_name("seq2_frame042", "mtlesd") == ("seq2_frame042", "seq2_frame042")


def test_release_mask_encoding_by_hand():
    mask = np.array([[0, 1, 2], [7, 255, 0]], np.uint8)
    raw, ignored = release_mask(mask)
    assert raw.tolist() == [[0, 2, 3], [8, 0, 0]] and ignored == 1
    # what the original loader does: mask[mask > 0] -= 1
    loaded = raw.copy()
    loaded[loaded > 0] -= 1
    assert loaded.tolist() == [[0, 1, 2], [7, 0, 0]]


def test_layout_and_summary(tiny_built, tmp_path):
    path, frames = tiny_built
    summary = export_endoarss(path, tmp_path / "rel")
    assert summary.frames == {"train": 5, "test": 3}
    assert summary.ignore_pixels == {"train": 80, "test": 0} and summary.ignore_frames == {"train": 1, "test": 0}
    files = sorted(p.relative_to(tmp_path / "rel").as_posix() for p in (tmp_path / "rel").rglob("*.png"))
    assert files[:4] == [
        "test/1/image/seq4_frame000.png",
        "test/1/mask/seq4_frame000.png",
        "test/4/image/seq4_frame001.png",
        "test/4/mask/seq4_frame001.png",
    ]
    assert "train/4/mask/seq2_frame001.png" in files and len(files) == 16
    raw = cv2.imread(str(tmp_path / "rel/train/4/mask/seq2_frame001.png"), cv2.IMREAD_UNCHANGED)
    assert raw.ndim == 2 and sorted(np.unique(raw).tolist()) == [0, 4]  # class 3 → 4, ignore → 0
    assert int((raw == 4).sum()) == 28 * 20
    assert json.loads((tmp_path / "rel" / SUMMARY_NAME).read_text())["ignore_pixels"]["train"] == 80


def test_original_loader_logic_reads_the_export(tiny_built, tmp_path):
    """Re-enact the reading rules of EndoARSS `create_dataset.py` (docs/formats.md §6.1) on the export."""
    from PIL import Image

    path, frames = tiny_built
    export_endoarss(path, tmp_path / "rel", val_name="val")
    expected = {release_name(f.frame_id): f for f in frames}
    seen = set()
    for mode in ("train", "val"):
        for folder in glob.glob(str(tmp_path / "rel" / mode / "*")):
            for mask_path in glob.glob(folder + "/mask/*.png"):
                image_path = mask_path.replace("/mask/", "/image/")
                activity = int(mask_path.split("/")[-3]) - 1
                image = np.asarray(Image.open(image_path).convert("RGB"))
                mask = np.array(Image.open(mask_path).convert("L"))
                mask[mask > 0] -= 1
                assert mask.max() <= 9
                f = expected[Path(mask_path).stem]
                assert (mode, activity) == ({"train": "train", "test": "val"}[f.split], f.activity)
                assert np.array_equal(image, f.image)
                assert np.array_equal(mask, np.where(f.mask == 255, 0, f.mask))
                seen.add(f.frame_id)
    assert seen == {f.frame_id for f in frames}


def test_round_trip_tiny_with_val_name(tiny_built, tmp_path):
    path, frames = tiny_built
    export_endoarss(path, tmp_path / "rel", val_name="val")
    assert sorted(p.name for p in (tmp_path / "rel").iterdir()) == [SUMMARY_NAME, "train", "val"]
    manifest = import_endoarss_folder(tmp_path / "rel", tmp_path / "back", "mtlendovis")
    back = _records(tmp_path / "back")
    assert set(back) == {f.frame_id for f in frames}
    for f in frames:
        split, activity, group, source, image, mask = back[f.frame_id]
        assert (split, activity, group, source) == (f.split, f.activity, f.group, "endovis18")
        assert np.array_equal(image, f.image)
        assert np.array_equal(mask, np.where(f.mask == 255, 0, f.mask))  # ignore exported as background
    assert manifest.options["split"] == "given" and manifest.options["imported_from"] == "endoarss-folder"
    assert manifest.frames["seq_2/frame001"]["file"] == "train/4/image/seq2_frame001.png"
    assert all(info["raw_one_pixels"] == 0 for info in manifest.frames.values())


def test_round_trip_real_size_build(real_built, tmp_path):
    """Synthetic 1280x1024 MTLEndovis build → release layout → import: identical records."""
    original = _records(real_built)
    export_endoarss(real_built, tmp_path / "rel")
    import_endoarss_folder(tmp_path / "rel", tmp_path / "back", "mtlendovis")
    back = _records(tmp_path / "back")
    assert set(back) == set(original)
    for frame_id, (split, activity, group, source, image, mask) in original.items():
        b = back[frame_id]
        assert b[:4] == (split, activity, group, source)
        assert image.shape == (1024, 1280, 3) and np.array_equal(b[4], image)
        assert np.array_equal(b[5], np.where(mask == 255, 0, mask))


def test_round_trip_gen_names(built_mtlendovis_gen, tmp_path):
    """MTLEndovis-Gen: test-only, `instrument_dataset_K/frameXXX` ↔ `seqK_frameXXX`, source endovis17."""
    original = _records(built_mtlendovis_gen)
    export_endoarss(built_mtlendovis_gen, tmp_path / "rel", val_name="val")
    names = {p.stem for p in (tmp_path / "rel" / "val").rglob("image/*.png")}
    assert names == {release_name(f) for f in original} and all(n.startswith("seq") for n in names)
    import_endoarss_folder(tmp_path / "rel", tmp_path / "back", "mtlendovis-gen")
    back = _records(tmp_path / "back")
    assert set(back) == set(original)
    for frame_id, (split, activity, group, source, image, mask) in original.items():
        assert back[frame_id][:4] == (split, activity, group, source) == ("test", activity, group, "endovis17")
        assert np.array_equal(back[frame_id][4], image)
        assert np.array_equal(back[frame_id][5], np.where(mask == 255, 0, mask))


def test_split_selection_and_errors(tiny_built, tmp_path):
    path, _ = tiny_built
    summary = export_endoarss(path, tmp_path / "only_test", splits=["test"])
    assert summary.frames == {"test": 3} and not (tmp_path / "only_test" / "train").exists()
    with pytest.raises(DatasetError, match="'validation'"):
        export_endoarss(path, tmp_path / "x", splits=["validation"])
    with pytest.raises(DatasetError, match="--val-name"):
        export_endoarss(path, tmp_path / "x", val_name="train")
    with pytest.raises(OutputError, match="only_test"):
        export_endoarss(path, tmp_path / "only_test")
    assert not (tmp_path / "x").exists()
    export_endoarss(path, tmp_path / "only_test", overwrite=True)
    assert (tmp_path / "only_test" / "train").is_dir()


@pytest.mark.parametrize("fmt", ["endoarss", "coco"])
def test_export_refuses_a_dataset_changed_after_the_build(tiny_built, tmp_path, fmt):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_built[0], copy)
    shard = next((copy / "data").glob("test-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=rf"changed after it was built \(data/{shard.name}: sha256 differs"):
        export_dataset(copy, tmp_path / "dest", fmt)
    assert not (tmp_path / "dest").exists()
