"""Bad input in the real download layouts (docs/formats.md §9): each refusal names the file or folder
and the value, and leaves no output; each skip is listed in the manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.build import BuildOptions, build_mtlendovis, build_mtlendovis_gen
from endods.dataset import open_dataset
from endods.errors import SourceError
from endods.pngio import decode_png, encode_png
from endods.synth import synth_endovis17, synth_endovis18

VQLA18 = "EndoVis-18-VQA_extended"
LABELS18 = f"{VQLA18}/seq_1/vqa/Classification"
E17 = "endovis17/instrument_1_4_training"


@pytest.fixture(scope="module")
def tree18(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real18")
    synth_endovis18(root, sequences=1, frames=2, seed=3)
    return root


@pytest.fixture(scope="module")
def tree18_2017(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real18-2017")
    synth_endovis18(root, sequences=1, frames=2, seed=3, ids="2017")
    return root


@pytest.fixture(scope="module")
def tree17(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real17")
    synth_endovis17(root, sequences=1, frames=2, seed=3)
    return root


def _copy(src: Path, tmp_path: Path) -> Path:
    root = tmp_path / "src"
    shutil.copytree(src, root)
    return root


def _refused(build, root: Path, tmp_path: Path, *needles: str) -> str:
    out = tmp_path / "out"
    with pytest.raises(SourceError) as info:
        build(root, out, BuildOptions())
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    return message


def test_answer_outside_the_26_names_file_line_and_answer(tree18, tmp_path):
    root = _copy(tree18, tmp_path)
    label = root / LABELS18 / "frame001_QA.txt"
    lines = label.read_text().splitlines()
    label.write_text("\n".join([*lines, "what tool is at left-top?|Suction_Instrument|1,1,2,2"]) + "\n")
    _refused(build_mtlendovis, root, tmp_path, str(label), f"line {len(lines) + 1}", "'Suction_Instrument'")


def test_wrong_case_suction_is_never_the_activity(tree18, tmp_path):
    """`suction` as a state answer counts as the tool: with no action left the frame is a listed no_activity."""
    root = _copy(tree18, tmp_path)
    label = root / LABELS18 / "frame001_QA.txt"
    lines = [ln for ln in label.read_text().splitlines() if not ln.startswith("what is the state of")]
    label.write_text("\n".join([*lines, "what is the state of suction_instrument?|suction|1,1,2,2"]) + "\n")
    manifest = build_mtlendovis(root, tmp_path / "out", BuildOptions())
    assert "seq_1/frame001" not in manifest.frames
    assert [(d.frame_id, d.reason) for d in manifest.dropped] == [("seq_1/frame001", "no_activity")]
    assert manifest.dropped[0].path == f"vqla18/seq_1/vqa/Classification/{label.name}"


@pytest.mark.parametrize(
    ("build", "fixture", "present", "alias", "option"),
    [
        (build_mtlendovis, "tree18", VQLA18, "EndoVis-18-VQLA", "--vqla18"),
        (build_mtlendovis_gen, "tree17", "EndoVis-17-VQA_extended_final", "EndoVis-17-VQLA-Extend", "--vqla17"),
    ],
)
def test_two_vqla_folders_are_refused_listing_both(build, fixture, present, alias, option, request, tmp_path):
    root = _copy(request.getfixturevalue(fixture), tmp_path)
    shutil.copytree(root / present, root / alias)
    _refused(build, root, tmp_path, str(root / present), str(root / alias), option)


def test_vqla_folder_aliases_are_found(tree18, tree17, tmp_path):
    root = _copy(tree18, tmp_path)
    (root / VQLA18).rename(root / "endovis-18-vqla-extended")
    assert len(build_mtlendovis(root, tmp_path / "out", BuildOptions()).frames) == 2
    root17 = tmp_path / "src17"
    shutil.copytree(tree17, root17)
    (root17 / "EndoVis-17-VQA_extended_final").rename(root17 / "EndoVis-17-VQA")
    assert len(build_mtlendovis_gen(root17, tmp_path / "out17", BuildOptions()).frames) == 2


def test_duplicate_instrument_dataset_names_both_folders(tree17, tmp_path):
    root = _copy(tree17, tmp_path)
    shutil.copytree(root / E17 / "instrument_dataset_1", root / "endovis17/instrument_dataset_1")
    _refused(
        build_mtlendovis_gen,
        root,
        tmp_path,
        str(root / "endovis17/instrument_dataset_1"),
        str(root / E17 / "instrument_dataset_1"),
    )


@pytest.mark.parametrize("suffix", [".jpeg", ".png", None])
def test_vqla17_image_format_or_absence_does_not_matter(tree17, tmp_path, suffix):
    """The Gen image is the cropped EndoVis17 PNG whatever the VQLA-17 copy is (docs/formats.md §9.2)."""
    root = _copy(tree17, tmp_path)
    copies = root / "EndoVis-17-VQA_extended_final/left_frames"
    for jpg in sorted(copies.glob("*.jpg")):
        if suffix is None:
            jpg.unlink()
        else:
            jpg.rename(jpg.with_suffix(suffix))
    build_mtlendovis_gen(root, tmp_path / "out", BuildOptions())
    ds = open_dataset(tmp_path / "out")
    for rec in ds.records("test"):
        name = rec.frame_id.split("/")[1]
        full = cv2.cvtColor(
            cv2.imread(str(root / E17 / f"instrument_dataset_1/left_frames/{name}.png")), cv2.COLOR_BGR2RGB
        )
        assert np.array_equal(
            decode_png(rec.image, cv2.IMREAD_COLOR)[..., ::-1], full[28 : 28 + 1024, 320 : 320 + 1280]
        )


def test_endovis18_test_data_copy_is_never_read(tree18, tmp_path):
    """The test data reuse seq_1..seq_4: unpacked beside the releases, the training frame is still used (§9.4)."""
    root = _copy(tree18, tmp_path)
    release = root / "endovis18/miccai_challenge_2018_release_1/seq_1/left_frames/frame000.png"
    test_copy = root / "endovis18/miccai_challenge_2018_test_data/seq_1/left_frames/frame000.png"
    test_copy.parent.mkdir(parents=True)
    test_copy.write_bytes(encode_png(np.full((1024, 1280, 3), 7, np.uint8)))
    manifest = build_mtlendovis(root, tmp_path / "out", BuildOptions())
    assert manifest.options["endovis18_folders_not_read"] == ["miccai_challenge_2018_test_data"]
    assert manifest.options["endovis18_folders_read"] == [".", "miccai_challenge_2018_release_1"]
    images = {
        r.frame_id: r.image
        for s in open_dataset(tmp_path / "out").splits
        for r in open_dataset(tmp_path / "out").records(s)
    }
    assert images["seq_1/frame000"] == release.read_bytes()


def test_endovis18_frame_differing_between_read_folders_names_both_files(tree18, tmp_path):
    root = _copy(tree18, tmp_path)
    release = root / "endovis18/miccai_challenge_2018_release_1/seq_1/left_frames/frame000.png"
    loose = root / "endovis18/seq_1/left_frames/frame000.png"
    loose.parent.mkdir(parents=True)
    loose.write_bytes(encode_png(np.full((1024, 1280, 3), 7, np.uint8)))
    _refused(build_mtlendovis, root, tmp_path, str(release), str(loose), "seq_1/frame000")
    loose.write_bytes(release.read_bytes())  # an identical copy is fine
    assert len(build_mtlendovis(root, tmp_path / "out", BuildOptions()).frames) == 2


@pytest.mark.parametrize(("fixture", "value"), [("tree18", 8), ("tree18_2017", 10)])
def test_isinet_mask_id_missing_from_its_table_names_file_value_and_table(fixture, value, request, tmp_path):
    root = _copy(request.getfixturevalue(fixture), tmp_path)
    mask_path = root / "isinet18/train/annotations/seq1_frame001.png"
    mask = decode_png(mask_path.read_bytes())
    mask[:5, :5] = value
    mask_path.write_bytes(encode_png(mask))
    _refused(
        build_mtlendovis, root, tmp_path, str(mask_path), f"value {value}", str(root / "isinet18/labels_2017.json")
    )


def test_isinet_2017_ids_map_by_name_and_count_unmapped_instruments(tree18_2017, tmp_path):
    """With the 2017-compatible table, ids 6-9 are scissors/probe/suction/clip applier and 4/5 are background."""
    root = _copy(tree18_2017, tmp_path)
    mask_path = root / "isinet18/train/annotations/seq1_frame000.png"
    raw = decode_png(mask_path.read_bytes())
    raw[:10, :20] = 4  # Vessel Sealer: no MTLEndovis class
    raw[10:13, :10] = 8  # Suction Instrument = MTLEndovis 6
    mask_path.write_bytes(encode_png(raw))
    build_mtlendovis(root, tmp_path / "out", BuildOptions())
    ds = open_dataset(tmp_path / "out")
    rec = next(r for s in ds.splits for r in ds.records(s) if r.frame_id == "seq_1/frame000")
    built = decode_png(rec.mask)
    lut = np.array([0, 1, 2, 3, 0, 0, 4, 5, 6, 7], np.uint8)
    assert np.array_equal(built, lut[raw])
    assert ds.manifest.frames["seq_1/frame000"]["unmapped_instrument_pixels"] == int((raw == 4).sum()) == 200


def test_raw_only_isinet_download_gives_the_organize_command(tree18, tmp_path):
    root = _copy(tree18, tmp_path)
    shutil.rmtree(root / "isinet18")
    raw = root / "ISINet/miccai_challenge_2018_release_1/seq_1/instrument_labels_2017"
    raw.mkdir(parents=True)
    (raw / "frame000_class1_inst1.png").write_bytes(encode_png(np.zeros((1024, 1280), np.uint8)))
    (root / "ISINet/labels_2017.json").write_text(json.dumps([{"name": "Bipolar Forceps", "classid": 1}]))
    message = _refused(build_mtlendovis, root, tmp_path, str(root / "ISINet"), "organize2018.py")
    assert (
        f"--data-dir {root / 'ISINet'} --save-dir {root / 'isinet18'} --label-path {root / 'ISINet/labels_2017.json'}"
        in message
    )


def test_two_isinet_folders_are_refused_listing_both_and_the_option_picks_one(tree18, tmp_path):
    root = _copy(tree18, tmp_path)
    shutil.copytree(root / "isinet18", root / "ISINet_organised")
    _refused(build_mtlendovis, root, tmp_path, str(root / "isinet18"), str(root / "ISINet_organised"), "--isinet18")
    manifest = build_mtlendovis(root, tmp_path / "out", BuildOptions(), isinet18=root / "ISINet_organised")
    assert len(manifest.frames) == 2


def test_vqla18_label_folder_variants(tree18, tmp_path):
    """`seq_N/vqla/Classification` is read like `vqa/Classification` and `vqla/label` (docs/formats.md §9.1)."""
    root = _copy(tree18, tmp_path)
    (root / VQLA18 / "seq_1/vqa").rename(root / VQLA18 / "seq_1/vqla")
    manifest = build_mtlendovis(root, tmp_path / "out", BuildOptions())
    assert len(manifest.frames) == 2
    assert {d.frame_id for d in manifest.dropped} == set()
