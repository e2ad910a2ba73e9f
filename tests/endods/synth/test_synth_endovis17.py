"""Synthetic EndoVis17 ROOT: exact layout (docs/formats.md §3, §9), determinism, report = painted truth."""

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.fuse import choose_activity
from endods.synth import synth_endovis17
from endods.synth.endovis17 import DATASETS, FOLDERS

X0, Y0, W, H = 320, 28, 1280, 1024


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# layout -> (instrument_dataset_K parent in endovis17/, VQLA folder, label folder, VQLA image suffix)
LAYOUTS = {
    "real": ("endovis17/instrument_1_4_training", "EndoVis-17-VQA_extended_final", "vqla/Classification", "jpg"),
    "original": ("endovis17", "EndoVis-17-VQLA", "vqla/label", "png"),
}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def tree(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"synth17-{request.param}")
    return root, synth_endovis17(root, sequences=2, frames=4, seed=3, layout=request.param), LAYOUTS[request.param]


def test_layout_is_exact(tree):
    root, report, (e17, vqla, labels, suffix) = tree
    expected = set()
    for k in (1, 2):
        folders = DATASETS[k - 1][0]
        for f in range(4):
            name, stem = f"frame{f:03d}", f"seq{k}_frame{f:03d}"
            expected.add(f"{e17}/instrument_dataset_{k}/left_frames/{name}.png")
            expected |= {f"{e17}/instrument_dataset_{k}/ground_truth/{d}/{name}.png" for d in folders}
            if (k, f) != (1, 3):
                expected |= {f"{vqla}/{labels}/{stem}.txt", f"{vqla}/left_frames/{stem}.{suffix}"}
    assert set(_digests(root)) == expected | {".endods-synth"}  # the marker lets --overwrite replace them
    assert report.files == len(expected)


def test_datasets_5_to_8_unpack_into_the_second_archive_folder(tmp_path):
    synth_endovis17(tmp_path, sequences=5, frames=1)
    assert (tmp_path / "endovis17/instrument_1_4_training/instrument_dataset_4/left_frames/frame000.png").is_file()
    assert (tmp_path / "endovis17/instrument_5_8_training/instrument_dataset_5/left_frames/frame000.png").is_file()


def test_report_is_the_painted_truth(tree):
    root, report, (e17, vqla, labels, suffix) = tree
    assert report.dropped == {
        "instrument_dataset_1/frame002": "no_activity",
        "instrument_dataset_1/frame003": "no_vqla_label",
    }
    assert len(report.frames) == 6
    unmapped_total = 0
    for frame_id, truth in report.frames.items():
        dataset, name = frame_id.split("/")
        k = int(dataset.rsplit("_", 1)[1])
        left = cv2.imread(str(root / f"{e17}/{dataset}/left_frames/{name}.png"), cv2.IMREAD_UNCHANGED)
        assert left.shape == (1080, 1920, 3)
        crop = cv2.imread(str(root / f"{vqla}/left_frames/seq{k}_{name}.{suffix}"), cv2.IMREAD_UNCHANGED)
        window_rgb = left[Y0 : Y0 + H, X0 : X0 + W]
        if suffix == "png":
            assert np.array_equal(crop, window_rgb)
        else:  # a JPEG copy of the same crop: close, never equal
            assert crop.shape == window_rgb.shape and not np.array_equal(crop, window_rgb)
            assert np.abs(crop.astype(int) - window_rgb).mean() < 4
        assembled = np.zeros((1080, 1920), np.uint8)
        for folder in sorted(DATASETS[k - 1][0]):
            gt = cv2.imread(str(root / f"{e17}/{dataset}/ground_truth/{folder}/{name}.png"), cv2.IMREAD_UNCHANGED)
            assert gt.shape == (1080, 1920) and set(np.unique(gt)) <= {0, 10, 20, 30}
            assembled[gt > 0] = FOLDERS[folder][0]
        window = assembled[Y0 : Y0 + H, X0 : X0 + W]
        to_class = np.array([0, 1, 2, 3, 0, 0, 4, 5], np.uint8)
        assert np.bincount(to_class[window].ravel(), minlength=8).tolist() == truth["class_pixels"]
        assert truth["unmapped_instrument_pixels"] == int(np.isin(window, (4, 5)).sum())
        unmapped_total += truth["unmapped_instrument_pixels"]
        assert choose_activity(truth["states"]) == truth["activity"]
        text = (root / f"{vqla}/{labels}/seq{k}_{name}.txt").read_text().splitlines()
        assert [ln.split("|")[1] for ln in text if ln.startswith("what is the state of")] == truth["states"]
    assert unmapped_total > 0  # the Vessel_Sealer dataset puts unmapped pixels inside the crop
    assert {c for t in report.frames.values() for c in range(1, 8) if t["class_pixels"][c]} == {1, 2, 3, 4, 5}


def test_dataset_tables_are_sorted_and_agree_with_policy():
    for folders, scenarios in DATASETS:
        assert list(folders) == sorted(folders)
        for activity, answers in scenarios:
            assert len(answers) == len(folders)
            assert choose_activity([a.lstrip("-") for a in answers if a]) == activity


def test_deterministic_per_seed(tmp_path):
    a = synth_endovis17(tmp_path / "a", sequences=1, frames=2, seed=4)
    b = synth_endovis17(tmp_path / "b", sequences=1, frames=2, seed=4)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert a.to_dict()["frames"] == b.to_dict()["frames"]


def test_damaged_frames(tmp_path):
    report = synth_endovis17(tmp_path, sequences=2, frames=2, damaged=True)
    assert report.dropped["instrument_dataset_2/frame000"] == "no_image"
    assert report.dropped["instrument_dataset_2/frame001"] == "no_mask"
    dataset = tmp_path / "endovis17/instrument_1_4_training/instrument_dataset_2"
    assert not (dataset / "left_frames/frame000.png").exists()
    assert not (tmp_path / "EndoVis-17-VQA_extended_final/left_frames/seq2_frame000.jpg").exists()
    assert (tmp_path / "EndoVis-17-VQA_extended_final/vqla/Classification/seq2_frame000.txt").is_file()
    assert not list((dataset / "ground_truth").rglob("frame001.png"))
