"""MTLEndovis reader (docs/formats.md §2, §5.5, §7) on a synthetic ROOT and on hand-made trees."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.errors import SourceError
from endods.fuse import choose_activity
from endods.sources.endovis18 import discover_endovis18, read_endovis18
from endods.synth import synth_endovis18

STATE = "what is the state of bipolar_forceps?|Idle|1,1,2,2\n"
ORGAN = "what organ is being operated?|kidney|1,1,2,2\n"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("src18")
    return root, synth_endovis18(root, sequences=3, frames=4, seed=2, damaged=True)


def _touch(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _minimal(root: Path, isinet: str = "isinet18", vqla: str = "EndoVis-18-VQLA") -> Path:
    _touch(root, f"{isinet}/train/annotations/seq1_frame000.png")
    _touch(root, f"{vqla}/seq_1/vqla/label/frame000_QA.txt", STATE)
    return root


def test_reader_gives_exactly_the_report(synth):
    root, report = synth
    frames = read_endovis18(discover_endovis18(root))
    assert [f.frame_id for f in frames] == sorted(f.frame_id for f in frames)
    assert {f.frame_id: f.drop[0] for f in frames if f.drop} == report.dropped
    assert report.dropped == {
        "seq_1/frame002": "no_activity",
        "seq_1/frame003": "no_vqla_label",
        "seq_2/frame000": "no_image",
        "seq_2/frame001": "no_mask",
    }
    kept = {f.frame_id: f for f in frames if f.drop is None}
    assert set(kept) == set(report.frames)
    for frame_id, truth in report.frames.items():
        frame = kept[frame_id]
        assert (frame.group, frame.source) == (truth["group"], "endovis18")
        assert list(frame.states) == frame.facts["answers"] == truth["states"]
        assert frame.facts["states"] == _mapped(truth["states"])
        assert choose_activity(frame.states) == truth["activity"]
        assert frame.image_path.parent.name == "left_frames" and "miccai_challenge_2018" in str(frame.image_path)
        assert frame.mask_path.parent.name == "annotations"
        mask = cv2.imread(str(frame.mask_path), cv2.IMREAD_UNCHANGED)
        assert np.bincount(mask.ravel(), minlength=8).tolist() == truth["class_pixels"]


def test_drop_paths_name_the_missing_or_offending_file(synth):
    root, _ = synth
    drops = {f.frame_id: f.drop for f in read_endovis18(discover_endovis18(root)) if f.drop}
    labels = root / "EndoVis-18-VQA_extended/seq_1/vqa/Classification"
    assert drops["seq_1/frame003"] == ("no_vqla_label", labels / "frame003_QA.txt")
    assert drops["seq_1/frame002"] == ("no_activity", labels / "frame002_QA.txt")
    assert drops["seq_2/frame000"] == ("no_image", root / "EndoVis-18-VQA_extended/seq_2/left_frames/frame000.png")
    assert drops["seq_2/frame001"] == ("no_mask", root / "isinet18/val/annotations/seq2_frame001.png")


def test_image_fallbacks_and_drop_priority(tmp_path):
    _touch(tmp_path, "isinet18/train/images/seq1_frame000.png")  # ISINet copy only
    _touch(tmp_path, "isinet18/train/annotations/seq1_frame000.png")
    _touch(tmp_path, "EndoVis-18-VQLA/seq_1/vqla/label/frame000_QA.txt", STATE)
    _touch(tmp_path, "EndoVis-18-VQLA/seq_1/left_frames/frame001.png")  # VQLA copy only
    _touch(tmp_path, "isinet18/train/annotations/seq1_frame001.png")
    _touch(tmp_path, "EndoVis-18-VQLA/seq_1/vqla/label/frame001_QA.txt", STATE)
    _touch(tmp_path, "EndoVis-18-VQLA/seq_1/vqla/label/frame002_QA.txt", ORGAN)  # no state, no image, no mask
    _touch(tmp_path, "isinet18/train/annotations/seq1_frame003.png")  # mask only
    _touch(tmp_path, "EndoVis-18-VQLA/seq_1/vqla/label/frame004_QA.txt", STATE)  # label only
    frames = {f.frame_id: f for f in read_endovis18(discover_endovis18(tmp_path))}
    assert frames["seq_1/frame000"].image_path == tmp_path / "isinet18/train/images/seq1_frame000.png"
    assert frames["seq_1/frame001"].image_path == tmp_path / "EndoVis-18-VQLA/seq_1/left_frames/frame001.png"
    assert frames["seq_1/frame000"].drop is None and frames["seq_1/frame001"].drop is None
    reasons = {k: f.drop[0] for k, f in frames.items() if f.drop}
    assert reasons == {"seq_1/frame002": "no_activity", "seq_1/frame003": "no_vqla_label", "seq_1/frame004": "no_image"}


def test_unknown_answer_stops_the_read(tmp_path):
    _minimal(tmp_path)
    bad = _touch(tmp_path, "EndoVis-18-VQLA/seq_1/vqla/label/frame001_QA.txt", ORGAN + "q|Napping|1,2,3,4\n")
    with pytest.raises(SourceError) as info:
        read_endovis18(discover_endovis18(tmp_path))
    assert str(bad) in str(info.value) and "Napping" in str(info.value)


def test_discovery_is_case_insensitive(tmp_path):
    _minimal(tmp_path, isinet="ISINET18", vqla="endovis-18-vqla")
    (tmp_path / "EndoVis18").mkdir()
    paths = discover_endovis18(tmp_path)
    assert (paths.isinet18.name, paths.vqla18.name, paths.endovis18.name) == (
        "ISINET18",
        "endovis-18-vqla",
        "EndoVis18",
    )


def test_overrides_win(tmp_path):
    root = _minimal(tmp_path / "root")
    other = _minimal(tmp_path / "elsewhere", isinet="types", vqla="labels")
    paths = discover_endovis18(root, isinet18=other / "types", vqla18=other / "labels")
    assert paths.isinet18 == other / "types" and paths.vqla18 == other / "labels"
    assert discover_endovis18(None, isinet18=other / "types", vqla18=other / "labels").endovis18 is None
    with pytest.raises(SourceError, match="nope"):
        discover_endovis18(root, isinet18=tmp_path / "nope")


@pytest.mark.parametrize(
    ("setup", "needles"),
    [
        (lambda r: None, ["does not exist"]),
        (lambda r: r.mkdir(), ["is empty"]),
        (lambda r: _touch(r, "EndoVis-18-VQLA/seq_1/vqla/label/frame000_QA.txt", STATE), ["'isinet18'", "--isinet18"]),
        (lambda r: _touch(r, "isinet18/train/annotations/seq1_frame000.png"), ["'EndoVis-18-VQLA'", "--vqla18"]),
        (
            lambda r: (
                _minimal(r) and _touch(r, "isinet18/train/annotations/x.png").parent.rename(r / "isinet18/train/masks")
            ),
            ["annotations"],
        ),
    ],
)
def test_discovery_errors_name_folder_and_place(tmp_path, setup, needles):
    root = tmp_path / "ROOT"
    setup(root)
    with pytest.raises(SourceError) as info:
        discover_endovis18(root)
    message = str(info.value)
    assert all(n in message for n in needles)
    assert str(root) in message


def test_no_root_and_no_overrides():
    with pytest.raises(SourceError, match="no --src given"):
        discover_endovis18(None)


def _mapped(answers: list[str]) -> list[str]:
    """docs/formats.md §5.1 written out independently: lower case, both manipulations merge, Staple -> stapling."""
    special = {"Tissue_Manipulation": "manipulation", "Tool_Manipulation": "manipulation", "Staple": "stapling"}
    return [special.get(a, a.lower()) for a in answers]
