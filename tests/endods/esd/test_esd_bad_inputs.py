"""docs/formats.md §5.5 ESD rows: input errors name the file and value and leave no output; frame drops are listed."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import pytest

from endods.errors import OptionError, SourceError, StrictError
from endods.esd_build import build_mtlesd, parse_activities, parse_crop
from endods.synth.esd import EsdSynthReport, synth_esd
from schemas.outputs import OutputError


@pytest.fixture
def src(small_source: EsdSynthReport, tmp_path: Path) -> Path:
    copy = tmp_path / "src"
    shutil.copytree(small_source.root, copy)
    return copy


def _fails(src: Path, tmp_path: Path, error: type, *needles: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(error) as info:
        build_mtlesd(src, out)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def _edit_coco(src: Path, edit) -> None:
    path = src / "annotations.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_missing_video(src: Path, tmp_path: Path) -> None:
    (src / "videos" / "ESD_02.mp4").unlink()
    _fails(src, tmp_path, SourceError, str(src / "videos" / "ESD_02.mp4"))


def test_unopenable_video(src: Path, tmp_path: Path) -> None:
    (src / "videos" / "ESD_02.mp4").write_bytes(b"\x00garbage" * 600)
    _fails(src, tmp_path, SourceError, str(src / "videos" / "ESD_02.mp4"), "cannot be opened")


def test_zero_frame_video(src: Path, tmp_path: Path) -> None:
    path = src / "videos" / "ESD_01.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (1920, 1080))
    writer.release()  # a container with no frames
    _fails(src, tmp_path, SourceError, str(path))


def test_overlapping_phases(src: Path, tmp_path: Path) -> None:
    rows = list(csv.reader((src / "phases.csv").open()))
    first = next(r for r in rows[1:] if r[0] == "ESD_02")
    rows.append(["ESD_02", "marking", str(int(first[3])), str(int(first[3]) + 1)])
    with (src / "phases.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    a = f"{first[1]} [{first[2]}, {first[3]}]"
    b = f"marking [{first[3]}, {int(first[3]) + 1}]"
    _fails(src, tmp_path, SourceError, "phases.csv", "ESD_02", a, b)


def test_coco_image_of_missing_video(src: Path, tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["images"].append(
            {
                "id": 999,
                "file_name": "ESD_99/000003.png",
                "width": 1920,
                "height": 1080,
                "video_id": "ESD_99",
                "frame_index": 3,
            }
        )

    _edit_coco(src, edit)
    _fails(src, tmp_path, SourceError, str(src / "videos" / "ESD_99.mp4"))


def test_unknown_category_id(src: Path, tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["annotations"][3]["category_id"] = 9

    _edit_coco(src, edit)
    _fails(src, tmp_path, SourceError, str(src / "annotations.json"), "unknown category_id 9")


def test_out_exists(src: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")  # an empty folder holds nothing to lose
    with pytest.raises(OutputError, match=re.escape(str(tmp_path / "out"))):
        build_mtlesd(src, tmp_path / "out")


def test_check_order_and_frame_past_the_end(src: Path, tmp_path: Path) -> None:
    """Phase lookup comes first: past-the-end frames outside selected phases are phase drops."""
    with (src / "phases.csv").open("a") as f:
        f.write("ESD_01,marking,100,120\nESD_01,installation_debugging,125,130\n")

    def edit(data: dict) -> None:
        for i, index in enumerate((110, 128, 200)):
            data["images"].append(
                {
                    "id": 900 + i,
                    "file_name": f"ESD_01/{index:06d}.png",
                    "width": 1920,
                    "height": 1080,
                    "video_id": "ESD_01",
                    "frame_index": index,
                }
            )

    _edit_coco(src, edit)
    manifest = build_mtlesd(src, tmp_path / "out")
    dropped = {d.frame_id: (d.reason, d.path) for d in manifest.dropped}
    assert dropped["ESD_01/000110"] == ("frame_out_of_range", "videos/ESD_01.mp4")
    assert dropped["ESD_01/000128"] == ("phase_not_selected", "phases.csv")
    assert dropped["ESD_01/000200"] == ("no_phase", "phases.csv")
    with pytest.raises(StrictError, match=r"ESD_01\.mp4 ends after 19 frames; frame 110"):
        build_mtlesd(src, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_video_that_ends_early(tmp_path: Path) -> None:
    report = synth_esd(tmp_path / "src", videos=2, frames=19, seed=1, end_early=6)
    assert report.video_frames == {"ESD_01": 19, "ESD_02": 6}
    manifest = build_mtlesd(report.root, tmp_path / "out")
    assert set(manifest.frames) == set(report.frames)
    dropped = {d.frame_id: (d.reason, d.path) for d in manifest.dropped}
    assert dropped == {f: (r, report.drop_paths[f]) for f, r in report.dropped.items()}
    late = sorted(f for f, r in report.dropped.items() if r == "frame_out_of_range")
    assert late and all(f.startswith("ESD_02/") and int(f[-6:]) >= 6 for f in late)
    first = int(late[0][-6:])
    with pytest.raises(StrictError, match=rf"ESD_02\.mp4 ends after 6 frames; frame {first} \(ESD_02/"):
        build_mtlesd(report.root, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_option_parsers() -> None:
    assert parse_crop("307, 35,1306,1009") == (307, 35, 1306, 1009)
    assert parse_activities("marking,injection") == ("marking", "injection")
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,10", "-1,0,10,10"):
        with pytest.raises(OptionError, match=re.escape(bad)):
            parse_crop(bad)
    with pytest.raises(OptionError, match="'cutting'"):
        parse_activities("marking,cutting")
    with pytest.raises(OptionError, match="twice"):
        parse_activities("marking,marking")
    with pytest.raises(ValueError):  # OptionError is also a ValueError, for typer callbacks
        parse_activities("")


def test_crop_that_does_not_fit(src: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"crop 1000,100,1306,1009 does not fit image \d+ \(ESD_0"):
        build_mtlesd(src, tmp_path / "out", crop=(1000, 100, 1306, 1009))


def _set(path: tuple, value: object):
    def edit(data: dict) -> None:
        *parents, last = path
        node = data
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


_DELETE = object()


@pytest.mark.parametrize(
    "edit,needle",
    [
        (_set(("annotations", 0, "segmentation"), {"size": [10, 10], "counts": "abc"}), "RLE size [10, 10]"),
        (_set(("annotations", 0, "segmentation"), [[1, 2, 3]]), "polygon [1, 2, 3]"),
        (_set(("annotations", 0, "segmentation"), "x"), "segmentation must be"),
        (_set(("categories", 0, "name"), _DELETE), "category 1 has no name"),
        (_set(("categories", 0, "id"), "one"), "id 'one', which is not an integer"),
        (_set(("images", 0, "frame_index"), "x1"), "frame_index 'x1', which is not an integer"),
        (_set(("images", 0), 5), "images[0] must be a JSON object"),
        (_set(("annotations",), {"a": 1}), "'annotations' must be a list"),
    ],
)
def test_malformed_coco_is_a_source_error(src: Path, tmp_path: Path, edit, needle: str) -> None:
    _edit_coco(src, edit)
    _fails(src, tmp_path, SourceError, str(src / "annotations.json"), needle)


def test_rle_that_does_not_decode_names_the_annotation(src: Path, tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        image = next(i for i in data["images"] if i["id"] == data["annotations"][0]["image_id"])
        data["annotations"][0]["segmentation"] = {"size": [image["height"], image["width"]], "counts": 12}

    _edit_coco(src, edit)
    ann_id = json.loads((src / "annotations.json").read_text())["annotations"][0]["id"]
    _fails(src, tmp_path, SourceError, str(src / "annotations.json"), f"annotation {ann_id}", "does not rasterise")


def test_phases_csv_not_utf8(src: Path, tmp_path: Path) -> None:
    path = src / "phases.csv"
    path.write_bytes(path.read_bytes() + "ESD_01,marking,900,901 # é\n".encode("latin-1"))
    _fails(src, tmp_path, SourceError, str(path), "not UTF-8")
