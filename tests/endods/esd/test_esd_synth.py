"""The synthetic ESD source covers what the issue asks for, and is deterministic per seed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from endods.errors import EndodsError
from endods.synth.esd import EsdSynthReport, synth_esd
from schemas.labelmaps import ESD_PHASES


def test_source_covers_the_format(esd_source: EsdSynthReport) -> None:
    root = esd_source.root
    rows = list(csv.DictReader((root / "phases.csv").open()))
    assert {r["phase"] for r in rows} == set(ESD_PHASES)
    assert {r["video_id"] for r in rows} == {"ESD_01", "ESD_02"}
    data = json.loads((root / "annotations.json").read_text())
    assert [c["name"] for c in data["categories"]] == [f"esd_class_{i}" for i in range(1, 7)]
    image = data["images"][0]
    assert image["file_name"] == f"{image['video_id']}/{image['frame_index']:06d}.png"
    assert (image["width"], image["height"]) == (1920, 1080)
    assert len(data["images"]) == 20 and len(data["annotations"]) == 80
    assert esd_source.annotation_kinds == {"polygon": 40, "rle_uncompressed": 20, "rle_compressed": 20}
    assert {a["iscrowd"] for a in data["annotations"]} == {0, 1}
    assert len({a["category_id"] for a in data["annotations"]}) >= 5
    assert set(esd_source.dropped.values()) == {"no_phase", "phase_not_selected"}
    assert len(esd_source.frames) == 12 and len(esd_source.dropped) == 8
    assert all(f["clipped_pixels"] > 0 for f in esd_source.frames.values())
    assert sorted(p.name for p in (root / "videos").iterdir()) == ["ESD_01.mp4", "ESD_02.mp4"]


def test_deterministic_per_seed(esd_source: EsdSynthReport, tmp_path: Path) -> None:
    again = synth_esd(tmp_path / "a", videos=2, frames=48, seed=0)
    for name in ("phases.csv", "annotations.json", "videos/ESD_01.mp4"):
        assert (again.root / name).read_bytes() == (esd_source.root / name).read_bytes()
    assert again.frames == esd_source.frames
    other = synth_esd(tmp_path / "b", videos=2, frames=48, seed=1)
    assert other.frames != esd_source.frames


def test_rejects_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(EndodsError, match="frames=10"):
        synth_esd(tmp_path / "x", frames=10)
