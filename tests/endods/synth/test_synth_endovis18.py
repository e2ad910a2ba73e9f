"""Synthetic EndoVis18 ROOT: exact layout (docs/formats.md §2, §9), determinism, report = painted truth."""

import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.errors import OutputExistsError
from endods.fuse import choose_activity
from endods.sources.vqla import TOOL_ANSWERS
from endods.synth import synth_endovis18
from endods.synth.endovis18 import SCENARIOS, release_folder

R1 = "endovis18/miccai_challenge_2018_release_1"


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# variant -> (synth kwargs, VQLA folder, label folder, ISINet mask id -> MTLEndovis id written out by hand)
VARIANTS = {
    "real-2018": ({}, "EndoVis-18-VQA_extended", "vqa/Classification", {i: i for i in range(8)}),
    "real-2017": (
        {"ids": "2017"},
        "EndoVis-18-VQA_extended",
        "vqa/Classification",
        {0: 0, 1: 1, 2: 2, 3: 3, 4: 0, 5: 0, 6: 4, 7: 5, 8: 6, 9: 7},
    ),
    "original": ({"layout": "original"}, "EndoVis-18-VQLA", "vqla/label", {i: i for i in range(8)}),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def tree(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"synth18-{request.param}")
    kwargs, vqla, labels, ids = VARIANTS[request.param]
    return root, synth_endovis18(root, sequences=3, frames=4, seed=1, **kwargs), (vqla, labels, ids, request.param)


def test_layout_is_exact(tree):
    root, report, (vqla, label_dir, _ids, variant) = tree
    files = set(_digests(root))
    expected = set() if variant == "original" else {"isinet18/labels_2017.json"}
    for seq in (1, 2, 3):
        split = "val" if seq == 2 else "train"
        expected.add(f"{R1}/seq_{seq}/labels.json")
        for f in range(4):
            name = f"frame{f:03d}"
            expected |= {
                f"{R1}/seq_{seq}/left_frames/{name}.png",
                f"{R1}/seq_{seq}/labels/{name}.png",
                f"isinet18/{split}/images/seq{seq}_{name}.png",
                f"isinet18/{split}/annotations/seq{seq}_{name}.png",
            }
            if (seq, f) != (1, 3):  # the planned no_vqla_label frame
                expected |= {
                    f"{vqla}/seq_{seq}/{label_dir}/{name}_QA.txt",
                    f"{vqla}/seq_{seq}/left_frames/{name}.png",
                }
    binary = {p for p in files if "/binary_annotations/" in p}
    assert files - binary - {".endods-synth"} == expected
    assert (root / ".endods-synth").is_file()  # the marker lets --overwrite replace them
    assert binary and all(
        re.fullmatch(r"isinet18/(train|val)/binary_annotations/seq\d+_frame\d{3}_class[1-9]_inst\d+\.png", p)
        for p in binary
    )
    assert report.files == len(files) - 1  # the marker is not a source file
    assert not list(root.glob(".synth.tmp-*"))


def test_report_is_the_painted_truth(tree):
    root, report, (vqla, label_dir, ids, variant) = tree
    assert report.dropped == {"seq_1/frame002": "no_activity", "seq_1/frame003": "no_vqla_label"}
    assert len(report.frames) == 10
    for frame_id, truth in report.frames.items():
        seq, name = frame_id.split("/")
        n = int(seq[4:])
        split = "val" if n == 2 else "train"
        stem = f"seq{n}_{name}"
        mask = cv2.imread(str(root / f"isinet18/{split}/annotations/{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (1024, 1280) and mask.dtype == np.uint8
        mapped = np.vectorize(ids.__getitem__, otypes=[np.uint8])(mask)
        assert np.bincount(mapped.ravel(), minlength=8).tolist() == truth["class_pixels"]
        assert sum(truth["class_pixels"]) == 1280 * 1024
        assert truth["group"] == seq
        assert choose_activity(truth["states"]) == truth["activity"]
        for inst in root.glob(f"isinet18/{split}/binary_annotations/{stem}_class*_inst*.png"):
            c = int(re.search(r"_class(\d)_", inst.name).group(1))
            bw = cv2.imread(str(inst), cv2.IMREAD_UNCHANGED)
            assert set(np.unique(bw)) <= {0, 255}
            assert np.all(mask[bw > 0] == c)
        image = cv2.imread(str(root / f"{R1}/{seq}/left_frames/{name}.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (1024, 1280, 3)
        copies = [root / f"isinet18/{split}/images/{stem}.png", root / f"{vqla}/{seq}/left_frames/{name}.png"]
        assert all(c.read_bytes() == (root / f"{R1}/{seq}/left_frames/{name}.png").read_bytes() for c in copies)
        lines = (root / f"{vqla}/{seq}/{label_dir}/{name}_QA.txt").read_text().splitlines()
        assert lines[0].startswith("what organ is being operated?|kidney|")
        states = [ln.split("|")[1] for ln in lines if ln.startswith("what is the state of ")]
        assert states == truth["states"]
        tools = [ln.split("|")[1] for ln in lines if ln.startswith("what tool is at ")]
        # Extended sets answer tool questions too; the suction tool's answer is `suction` (lower case)
        assert (tools != []) == (variant != "original" and mask.any())
        assert all(t in TOOL_ANSWERS for t in tools) and "suction_instrument" not in tools
    no_activity = (root / f"{vqla}/seq_1/{label_dir}/frame002_QA.txt").read_text()
    assert "state" not in no_activity and "where is" in no_activity


def test_labels_json_and_part_colours(tree):
    root, _, _variant = tree
    table = json.loads((root / f"{R1}/seq_1/labels.json").read_text())
    assert table[0] == {"name": "background-tissue", "color": [0, 0, 0], "classid": 0}
    assert table[11] == {"name": "ultrasound-probe", "color": [12, 255, 141], "classid": 11}
    colours = {tuple(c["color"]) for c in table}
    labels = cv2.cvtColor(cv2.imread(str(root / f"{R1}/seq_1/labels/frame000.png")), cv2.COLOR_BGR2RGB)
    packed = np.unique(
        (labels[..., 0].astype(np.uint32) << 16) | (labels[..., 1].astype(np.uint32) << 8) | labels[..., 2]
    )
    assert {(int(v) >> 16, (int(v) >> 8) & 255, int(v) & 255) for v in packed} <= colours
    assert (255, 55, 0) in {(int(v) >> 16, (int(v) >> 8) & 255, int(v) & 255) for v in packed}  # kidney


def test_scenarios_agree_with_policy_and_cover_all_activities():
    for activity, tools in SCENARIOS:
        assert choose_activity([answer for _t, answer, _v in tools]) == activity
    assert len({a for a, _ in SCENARIOS}) == 12


def test_deterministic_per_seed(tmp_path):
    a = synth_endovis18(tmp_path / "a", sequences=1, frames=4, seed=7)
    b = synth_endovis18(tmp_path / "b", sequences=1, frames=4, seed=7)
    synth_endovis18(tmp_path / "c", sequences=1, frames=4, seed=8)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert a.frames == b.frames and a.dropped == b.dropped
    assert _digests(tmp_path / "a") != _digests(tmp_path / "c")
    assert json.loads(json.dumps(a.to_dict()))["frames"] == a.frames


def test_real_sequence_numbers_releases_and_val_split(tmp_path):
    report = synth_endovis18(tmp_path, sequences=5, frames=1)
    assert sorted(report.frames) == [f"seq_{n}/frame000" for n in (1, 2, 3, 4, 5)]
    assert report.dropped == {}
    # release folders as the archives unpack (ISINet organize2018): only release 1 carries `_2018`
    assert (tmp_path / "endovis18/miccai_challenge_release_2/seq_5/left_frames/frame000.png").is_file()
    assert (tmp_path / "isinet18/val/annotations/seq5_frame000.png").is_file()
    assert [release_folder(n)[-1] for n in (4, 5, 7, 9, 12, 13, 16)] == list("1223344")
    assert release_folder(9) == "miccai_challenge_release_3" and release_folder(16) == "miccai_challenge_release_4"


def test_damaged_frames_and_overwrite(tmp_path):
    report = synth_endovis18(tmp_path, sequences=2, frames=2, damaged=True)
    assert report.dropped["seq_2/frame000"] == "no_image"
    assert report.dropped["seq_2/frame001"] == "no_mask"
    images = [
        f"{R1}/seq_2/left_frames/frame000.png",
        "isinet18/val/images/seq2_frame000.png",
        "EndoVis-18-VQA_extended/seq_2/left_frames/frame000.png",
    ]
    assert not any((tmp_path / p).exists() for p in images)
    assert (tmp_path / "EndoVis-18-VQA_extended/seq_2/vqa/Classification/frame000_QA.txt").is_file()
    assert not (tmp_path / "isinet18/val/annotations/seq2_frame001.png").exists()
    with pytest.raises(OutputExistsError, match="endovis18"):
        synth_endovis18(tmp_path, sequences=1, frames=1)
    again = synth_endovis18(tmp_path, sequences=1, frames=1, overwrite=True)
    assert list(again.frames) == ["seq_1/frame000"]
    assert not (tmp_path / "isinet18/val").exists()
