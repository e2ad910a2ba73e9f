"""MTLEndovis-Gen reader (docs/formats.md §3, §5.5, §9) on synthetic ROOTs and on hand-made trees."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.errors import SourceError
from endods.fuse import choose_activity
from endods.sources.endovis17 import CROP, discover_endovis17, instrument_type, read_endovis17
from endods.synth import synth_endovis17

STATE = "what is the state of bipolar_forceps?|Idle|1,1,2,2\n"


# (layout, VQLA-17 folder, label folder inside it, where instrument_dataset_K sits in endovis17/)
LAYOUTS = {
    "real": ("EndoVis-17-VQA_extended_final", "vqla/Classification", "instrument_1_4_training/"),
    "original": ("EndoVis-17-VQLA", "vqla/label", ""),
}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def synth(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"src17-{request.param}")
    return root, synth_endovis17(root, sequences=2, frames=4, seed=2, damaged=True, layout=request.param)


def _layout(root: Path) -> tuple[str, str, str]:
    return LAYOUTS["real"] if (root / LAYOUTS["real"][0]).is_dir() else LAYOUTS["original"]


def _touch(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _assemble(parts, attr: str) -> np.ndarray:
    mask = np.zeros((1080, 1920), np.uint8)
    for part in parts:
        mask[cv2.imread(str(part.path), cv2.IMREAD_UNCHANGED) > 0] = getattr(part, attr)
    x0, y0, w, h = CROP
    return mask[y0 : y0 + h, x0 : x0 + w]


def test_reader_gives_exactly_the_report(synth):
    root, report = synth
    frames = read_endovis17(discover_endovis17(root))
    assert [f.frame_id for f in frames] == sorted(f.frame_id for f in frames)
    assert (
        {f.frame_id: f.drop[0] for f in frames if f.drop}
        == report.dropped
        == {
            "instrument_dataset_1/frame002": "no_activity",
            "instrument_dataset_1/frame003": "no_vqla_label",
            "instrument_dataset_2/frame000": "no_image",
            "instrument_dataset_2/frame001": "no_mask",
        }
    )
    kept = {f.frame_id: f for f in frames if f.drop is None}
    assert set(kept) == set(report.frames)
    for frame_id, truth in report.frames.items():
        frame = kept[frame_id]
        k, name = frame_id.removeprefix("instrument_dataset_").split("/")
        assert (frame.group, frame.source, frame.crop) == (truth["group"], "endovis17", (320, 28, 1280, 1024))
        # the Gen image is the full-size EndoVis17 frame, cropped at decode time (docs/formats.md §9.2)
        assert frame.image_path == root / f"endovis17/{_layout(root)[2]}instrument_dataset_{k}/left_frames/{name}.png"
        assert list(frame.states) == frame.facts["answers"] == truth["states"]
        assert frame.facts["states"] == _mapped(truth["states"])
        assert choose_activity(frame.states) == truth["activity"]
        folders = [p.path.parent.name for p in frame.mask_parts]
        assert folders == sorted(folders) and len(folders) == 3
        classes = _assemble(frame.mask_parts, "class_id")
        assert np.bincount(classes.ravel(), minlength=8).tolist() == truth["class_pixels"]
        types = _assemble(frame.mask_parts, "source_type")
        assert int(np.isin(types, (4, 5)).sum()) == truth["unmapped_instrument_pixels"]
    drops = {f.frame_id: f.drop[1] for f in frames if f.drop}
    vqla, labels, inner = _layout(root)
    assert drops["instrument_dataset_1/frame003"] == root / f"{vqla}/{labels}/seq1_frame003.txt"
    assert (
        drops["instrument_dataset_2/frame000"]
        == root / f"endovis17/{inner}instrument_dataset_2/left_frames/frame000.png"
    )
    assert drops["instrument_dataset_2/frame001"] == root / f"endovis17/{inner}instrument_dataset_2/ground_truth"


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("Maryland_Bipolar_Forceps_labels", (1, 1)),
        ("Left_Prograsp_Forceps_labels", (2, 2)),
        ("Right_Large_Needle_Driver_labels", (3, 3)),
        ("Vessel_Sealer_labels", (4, 0)),
        ("Left_Grasping_Retractor_labels", (5, 0)),
        ("Monopolar_Curved_Scissors_labels", (6, 4)),
        ("Other_labels", (7, 5)),
        ("Mystery_Tool_labels", None),
    ],
)
def test_instrument_types(folder, expected):
    assert instrument_type(folder) == expected


def test_unknown_ground_truth_folder_is_an_error(tmp_path):
    _touch(tmp_path, "endovis17/instrument_dataset_1/left_frames/frame000.png")
    _touch(tmp_path, "endovis17/instrument_dataset_1/ground_truth/Mystery_Tool_labels/frame000.png")
    _touch(tmp_path, "EndoVis-17-VQLA/vqla/label/seq1_frame000.txt", STATE)
    with pytest.raises(SourceError, match="'Mystery_Tool_labels'"):
        read_endovis17(discover_endovis17(tmp_path))


def test_label_for_a_missing_dataset_is_no_image(tmp_path):
    """The Gen image is the EndoVis17 frame: a VQLA-17 copy alone is not enough (docs/formats.md §9.2)."""
    _touch(tmp_path, "endovis17/instrument_dataset_1/left_frames/frame000.png")
    _touch(tmp_path, "EndoVis-17-VQLA/vqla/label/seq9_frame5.txt", STATE)
    _touch(tmp_path, "EndoVis-17-VQLA/left_frames/seq9_frame5.png")
    frames = {f.frame_id: f.drop for f in read_endovis17(discover_endovis17(tmp_path))}
    assert frames["instrument_dataset_9/frame005"] == (
        "no_image",
        tmp_path / "endovis17/instrument_dataset_9/left_frames/frame005.png",
    )
    assert frames["instrument_dataset_1/frame000"][0] == "no_vqla_label"


def test_unparsable_stem_links_by_pixels(synth, tmp_path):
    src, report = synth
    dataset = f"endovis17/{_layout(src)[2]}instrument_dataset_1"
    for rel in ("left_frames", "ground_truth"):
        shutil.copytree(src / dataset / rel, tmp_path / "endovis17/instrument_dataset_1" / rel)
    label = _touch(tmp_path, "EndoVis-17-VQLA/vqla/label/mystery_42.txt", STATE)
    (tmp_path / "EndoVis-17-VQLA/left_frames").mkdir()
    x0, y0, w, h = CROP
    full = cv2.imread(str(src / dataset / "left_frames/frame001.png"))
    copy = tmp_path / "EndoVis-17-VQLA/left_frames/mystery_42.png"
    cv2.imwrite(str(copy), full[y0 : y0 + h, x0 : x0 + w])
    frames = {f.frame_id: f for f in read_endovis17(discover_endovis17(tmp_path))}
    linked = frames["instrument_dataset_1/frame001"]
    assert linked.drop is None and linked.label_path == label
    assert linked.image_path == tmp_path / "endovis17/instrument_dataset_1/left_frames/frame001.png"
    assert frames["instrument_dataset_1/frame000"].drop[0] == "no_vqla_label"
    # a lossy JPEG copy never equals the frame: it cannot link an odd stem
    copy.rename(copy.with_suffix(".jpg"))
    with pytest.raises(SourceError, match="mystery_42"):
        read_endovis17(discover_endovis17(tmp_path))
    # an image equal to no cropped frame cannot be linked
    cv2.imwrite(str(copy), np.zeros((1024, 1280, 3), np.uint8))
    copy.with_suffix(".jpg").unlink()
    with pytest.raises(SourceError, match="mystery_42"):
        read_endovis17(discover_endovis17(tmp_path))


def test_discovery_errors_and_overrides(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        discover_endovis17(tmp_path / "missing")
    _touch(tmp_path, "ENDOVIS17/instrument_dataset_1/left_frames/frame000.png")
    with pytest.raises(SourceError) as info:
        discover_endovis17(tmp_path)
    assert "'EndoVis-17-VQLA'" in str(info.value) and str(tmp_path) in str(info.value)
    _touch(tmp_path, "elsewhere/vqla/label/seq1_frame000.txt", STATE)
    paths = discover_endovis17(tmp_path, vqla17=tmp_path / "elsewhere")
    assert paths.vqla17 == tmp_path / "elsewhere" and paths.endovis17 == tmp_path / "ENDOVIS17"
    with pytest.raises(SourceError, match="no 'instrument_dataset_K'"):
        discover_endovis17(None, endovis17=tmp_path / "elsewhere", vqla17=tmp_path / "elsewhere")


def _mapped(answers: list[str]) -> list[str]:
    """docs/formats.md §5.1 written out independently: lower case, both manipulations merge, Staple -> stapling."""
    special = {"Tissue_Manipulation": "manipulation", "Tool_Manipulation": "manipulation", "Staple": "stapling"}
    return [special.get(a, a.lower()) for a in answers]
