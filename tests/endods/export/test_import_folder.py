"""`import_endoarss_folder` on hand-made released-layout folders: decoding rules and every bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.dataset import open_dataset
from endods.errors import SourceError, StrictError
from endods.import_folder import import_endoarss_folder
from endods.pngio import decode_png


def _write(root: Path, rel: str, array: np.ndarray) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def _pair(root: Path, split: str, folder: str, name: str, raw: np.ndarray, size=(16, 12)) -> None:
    _write(root, f"{split}/{folder}/image/{name}.png", np.full((size[1], size[0], 3), 90, np.uint8))
    _write(root, f"{split}/{folder}/mask/{name}.png", raw)


def _raw(values: list[int], size=(16, 12)) -> np.ndarray:
    raw = np.zeros((size[1], size[0]), np.uint8)
    for i, v in enumerate(values):
        raw[i, :4] = v
    return raw


def test_decoding_rules_and_names(tmp_path):
    src = tmp_path / "src"
    _pair(src, "train", "3", "seq5_frame010", _raw([0, 1, 2, 8]))
    _pair(src, "val", "12", "custom_name", _raw([3]))
    manifest = import_endoarss_folder(src, tmp_path / "out", "mtlendovis")
    ds = open_dataset(tmp_path / "out")
    recs = {r.frame_id: r for s in ds.splits for r in ds.records(s)}
    assert set(recs) == {"seq_5/frame010", "custom_name"}
    a = recs["seq_5/frame010"]
    assert (a.group, a.activity, a.source) == ("seq_5", 2, "endovis18")
    mask = decode_png(a.mask)
    assert mask[0, 0] == 0 and mask[1, 0] == 0 and mask[2, 0] == 1 and mask[3, 0] == 7  # raw 1 → background
    assert manifest.frames["seq_5/frame010"]["raw_one_pixels"] == 4
    assert manifest.frames["seq_5/frame010"]["split"] == "train"
    b = recs["custom_name"]
    assert (b.group, b.activity) == ("custom_name", 11)
    assert manifest.frames["custom_name"]["split"] == "test"  # val/ is the test split
    assert manifest.counts["train"].class_pixels["7"] == 4


def test_esd_and_gen_names(tmp_path):
    _pair(tmp_path / "esd", "test", "2", "ESD_03_000120", _raw([7]))  # raw 7 → class 6, the last ESD class
    import_endoarss_folder(tmp_path / "esd", tmp_path / "esd_out", "mtlesd")
    rec = next(open_dataset(tmp_path / "esd_out").records("test"))
    assert (rec.frame_id, rec.group, rec.source, rec.activity) == ("ESD_03/000120", "ESD_03", "esd", 1)
    _pair(tmp_path / "gen", "test", "5", "seq4_frame002", _raw([2]))
    import_endoarss_folder(tmp_path / "gen", tmp_path / "gen_out", "mtlendovis-gen")
    rec = next(open_dataset(tmp_path / "gen_out").records("test"))
    assert (rec.frame_id, rec.group, rec.source) == (
        "instrument_dataset_4/frame002",
        "instrument_dataset_4",
        "endovis17",
    )


def test_esd_class_names_given_or_default(tmp_path):
    _pair(tmp_path / "esd", "train", "1", "ESD_01_000003", _raw([2]))
    import_endoarss_folder(tmp_path / "esd", tmp_path / "default", "mtlesd")
    assert open_dataset(tmp_path / "default").labelmap.class_names[1:3] == ["esd_class_1", "esd_class_2"]
    names = ["knife", "forceps", "injector", "clip", "snare", "lesion"]
    import_endoarss_folder(tmp_path / "esd", tmp_path / "named", "mtlesd", class_names=[f" {n}" for n in names])
    labelmap = open_dataset(tmp_path / "named").labelmap
    assert labelmap.class_names == ["background", *names]
    for bad in (names[:5], [*names[:5], "knife"], [*names[:5], ""]):
        with pytest.raises(SourceError, match="6 distinct, non-empty class names"):
            import_endoarss_folder(tmp_path / "esd", tmp_path / "bad", "mtlesd", class_names=bad)
    with pytest.raises(SourceError, match="mtlesd only"):
        import_endoarss_folder(tmp_path / "esd", tmp_path / "bad", "mtlendovis", class_names=names)
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("folder", ["13", "0", "cutting"])
def test_unknown_activity_folder(tmp_path, folder):
    _pair(tmp_path / "src", "train", folder, "seq1_frame000", _raw([0]))
    with pytest.raises(SourceError, match=rf"activity folder '{folder}' is not an integer 1\.\.12"):
        import_endoarss_folder(tmp_path / "src", tmp_path / "out", "mtlendovis")
    assert not (tmp_path / "out").exists()


def test_mask_value_outside_label_map(tmp_path):
    _pair(tmp_path / "src", "train", "1", "seq1_frame000", _raw([0, 9]))  # MTLEndovis raw allows 0..8
    with pytest.raises(SourceError, match=r"seq1_frame000\.png: mask value 9 is outside the label map"):
        import_endoarss_folder(tmp_path / "src", tmp_path / "out", "mtlendovis")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))  # staging removed
    _pair(tmp_path / "esd", "train", "1", "v_000001", _raw([8]))  # MTLESD raw allows 0..7
    with pytest.raises(SourceError, match="mask value 8"):
        import_endoarss_folder(tmp_path / "esd", tmp_path / "out", "mtlesd")


def test_image_without_mask_and_mask_without_image(tmp_path):
    src = tmp_path / "src"
    _pair(src, "train", "1", "seq1_frame000", _raw([0]))
    _write(src, "train/1/image/seq1_frame001.png", np.zeros((12, 16, 3), np.uint8))
    with pytest.raises(StrictError, match=r"image/seq1_frame001\.png: image has no mask.*reason no_mask"):
        import_endoarss_folder(src, tmp_path / "out", "mtlendovis", strict=True)
    assert not (tmp_path / "out").exists()
    _write(src, "test/2/mask/seq1_frame002.png", _raw([0]))
    # without strict, both are listed as dropped (docs/formats.md §5.5) and the pair is imported
    manifest = import_endoarss_folder(src, tmp_path / "out", "mtlendovis")
    assert list(manifest.frames) == ["seq_1/frame000"]
    assert [(d.frame_id, d.reason, d.path) for d in manifest.dropped] == [
        ("seq_1/frame001", "no_mask", "train/1/image/seq1_frame001.png"),
        ("seq_1/frame002", "no_image", "test/2/mask/seq1_frame002.png"),
    ]


def test_structural_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no train/, test/ or val/"):
        import_endoarss_folder(tmp_path / "empty", tmp_path / "out", "mtlendovis")
    with pytest.raises(SourceError, match="not a folder"):
        import_endoarss_folder(tmp_path / "missing", tmp_path / "out", "mtlendovis")
    src = tmp_path / "both"
    _pair(src, "test", "1", "seq1_frame000", _raw([0]))
    _pair(src, "val", "1", "seq1_frame001", _raw([0]))
    with pytest.raises(SourceError, match="both test/ and val/"):
        import_endoarss_folder(src, tmp_path / "out", "mtlendovis")
    dup = tmp_path / "dup"
    _pair(dup, "train", "1", "seq1_frame000", _raw([0]))
    _pair(dup, "test", "2", "seq1_frame000", _raw([0]))
    with pytest.raises(SourceError, match="are both frame 'seq_1/frame000'"):
        import_endoarss_folder(dup, tmp_path / "out", "mtlendovis")
    size = tmp_path / "size"
    _write(size, "train/1/image/seq1_frame000.png", np.zeros((12, 16, 3), np.uint8))
    _write(size, "train/1/mask/seq1_frame000.png", _raw([0], size=(8, 6)))
    with pytest.raises(StrictError, match="is 8x6 but its image .* is 16x12"):
        import_endoarss_folder(size, tmp_path / "out", "mtlendovis", strict=True)
    _pair(size, "train", "1", "seq1_frame001", _raw([0, 2]))
    manifest = import_endoarss_folder(size, tmp_path / "out", "mtlendovis", workers=2)
    assert list(manifest.frames) == ["seq_1/frame001"]
    assert [(d.frame_id, d.reason) for d in manifest.dropped] == [("seq_1/frame000", "unreadable_image")]
    with pytest.raises(SourceError, match="not importable"):
        import_endoarss_folder(size, tmp_path / "out", "cityscapes")
