"""`build_report` on the tiny dataset: every number in stats.json is derived by hand from tiny_dataset.PLAN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.errors import DatasetError
from endods.report import build_report, default_report_dir
from schemas.outputs import OutputError


@pytest.fixture(scope="module")
def stats(tiny_report: Path) -> dict:
    return json.loads((tiny_report / "stats.json").read_text())


def test_default_folder_is_beside_the_dataset(tiny_built, tiny_report):
    assert tiny_report == default_report_dir(tiny_built[0])
    assert tiny_report == tiny_built[0].parent / "tiny-report"


def test_counts_per_split_and_activity(stats):
    train, test = stats["splits"]["train"], stats["splits"]["test"]
    assert train["frames"] == 5 and test["frames"] == 3
    assert {a: n for a, n in train["activities"].items() if n} == {"cauterization": 2, "grasping": 2, "idle": 1}
    assert {a: n for a, n in test["activities"].items() if n} == {"cauterization": 1, "grasping": 1, "idle": 1}


def test_class_pixels_and_image_frequency(stats):
    train, test = stats["splits"]["train"], stats["splits"]["test"]
    # class 1: 16x26 + 16x22 boxes; class 2: 20x30 + 40x24; class 3: 28x20; ignore 10x8
    assert train["class_pixels"]["Bipolar Forceps"] == 16 * 26 + 16 * 22
    assert train["class_pixels"]["Prograsp Forceps"] == 20 * 30 + 40 * 24
    assert train["class_pixels"]["Large Needle Driver"] == 28 * 20
    assert train["ignore_pixels"] == 80
    labelled = 5 * 48 * 64 - 80
    assert train["class_pixels"]["background"] == labelled - (768 + 1560 + 560)
    assert train["class_pixel_share"]["Bipolar Forceps"] == pytest.approx(768 / labelled)
    assert train["class_images"] == {
        "background": 5,
        "Bipolar Forceps": 2,
        "Prograsp Forceps": 2,
        "Large Needle Driver": 1,
        "Monopolar Curved Scissors": 0,
        "Ultrasound Probe": 0,
        "Suction Instrument": 0,
        "Clip Applier": 0,
    }
    assert test["class_image_frequency"]["Bipolar Forceps"] == pytest.approx(2 / 3)
    assert test["class_pixels"]["Large Needle Driver"] == 38 * 28  # box clipped to the 80x60 frame
    assert test["ignore_pixels"] == 0


def test_cooccurrence_groups_and_sizes(stats):
    co = stats["activity_class_cooccurrence"]
    assert {c: n for c, n in co["cauterization"].items() if n and c != "background"} == {
        "Bipolar Forceps": 3,
        "Prograsp Forceps": 1,
        "Large Needle Driver": 1,
    }
    assert {c: n for c, n in co["grasping"].items() if n and c != "background"} == {
        "Prograsp Forceps": 2,
        "Large Needle Driver": 1,
    }
    assert stats["groups"] == {
        "seq_1": {"train": 2, "test": 0},
        "seq_2": {"train": 2, "test": 0},
        "seq_3": {"train": 1, "test": 1},
        "seq_4": {"train": 0, "test": 2},
    }
    assert stats["splits"]["train"]["image_sizes"] == {"64x48": 5}
    assert stats["splits"]["test"]["image_sizes"] == {"64x48": 2, "80x60": 1}


def test_leakage_section(stats, tiny):
    leak = stats["leakage"]
    assert leak["shared_groups"] == ["seq_3"]
    assert leak["group_counts"] == {"seq_3": [1, 1]}
    pairs = [(d["test_frame"], d["train_frame"]) for d in leak["near_duplicates"]]
    assert pairs == [tiny.NEAR_DUPLICATE]
    assert leak["near_duplicates"][0]["distance"] <= 2


def test_folder_contents_and_relative_links(tiny_report):
    html = (tiny_report / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == 6 + 3 + 2  # figures, contact sheets (3 activities present), one leakage pair
    for src in sources:
        assert not src.startswith("/") and (tiny_report / src).is_file(), src
        assert cv2.imread(str(tiny_report / src)) is not None
    assert sorted(p.name for p in (tiny_report / "overlays").iterdir()) == [
        "01_cauterization.png",
        "04_grasping.png",
        "05_idle.png",
    ]
    assert "seq_3" in html and "near-duplicate" in html


def test_contact_sheet_shows_mask_colours(tiny_report):
    """The cauterization sheet must contain the blended Bipolar Forceps green (class colour 0,255,0)."""
    sheet = cv2.cvtColor(cv2.imread(str(tiny_report / "overlays" / "01_cauterization.png")), cv2.COLOR_BGR2RGB)
    r, g, b = (sheet[..., i].astype(int) for i in range(3))
    greenish = (g - r > 60) & (g - b > 60)
    assert greenish.sum() > 1000


def test_progress_and_rerun_replaces_report(tiny_built, tmp_path):
    calls: list[tuple[int, int]] = []
    out = tmp_path / "rep"
    build_report(tiny_built[0], out, on_progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 8) and calls[-1] == (8, 8)
    (out / "stale.txt").write_text("x")
    build_report(tiny_built[0], out)
    assert not (out / "stale.txt").exists() and (out / "report.html").is_file()


def test_refuses_to_replace_a_foreign_folder(tiny_built, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="mine"):
        build_report(tiny_built[0], foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="manifest.json"):
        build_report(tmp_path, tmp_path / "rep")


def test_single_split_dataset(tmp_path, tiny):
    """A test-only dataset (MTLEndovis-Gen) has nothing to leak; the page says so."""
    from endods.pngio import encode_png
    from endods.writer import BuildSession, EncodedFrame
    from schemas.labelmaps import MTLENDOVIS_GEN

    frames = tiny.tiny_frames()[:3]
    with BuildSession(tmp_path / "gen") as s:
        for f in frames:
            counts = np.bincount(f.mask[f.mask != 255], minlength=8)
            s.add(
                EncodedFrame(
                    f.frame_id, f.group, "endovis17", f.activity, encode_png(f.image), encode_png(f.mask), tuple(counts)
                )
            )
        s.finish("mtlendovis-gen", MTLENDOVIS_GEN, {f.frame_id: "test" for f in frames})
    summary = build_report(tmp_path / "gen")
    assert summary.frames == {"test": 3} and summary.near_duplicates == [] and summary.shared_groups == []
    assert "Only one split" in summary.html.read_text()
