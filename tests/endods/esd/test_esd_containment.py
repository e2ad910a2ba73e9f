"""Issue 16 cases 6, 8 and 18 on the ESD builder: reads stay inside --src, RLEs cover the frame, no FFmpeg noise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from endods.errors import SourceError
from endods.esd_build import build_mtlesd
from endods.sources.coco import _rle_total
from endods.synth.esd import EsdSynthReport


@pytest.fixture
def src(small_source: EsdSynthReport, tmp_path: Path) -> Path:
    copy = tmp_path / "src"
    shutil.copytree(small_source.root, copy)
    return copy


def _edit_coco(src: Path, edit) -> None:
    path = src / "annotations.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _refused(src: Path, tmp_path: Path, *needles: str) -> None:
    with pytest.raises(SourceError) as info:
        build_mtlesd(src, tmp_path / "out")
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("video_id", ["../../outside/evil", "/abs/evil"])
def test_case6_video_id_outside_src_is_refused(src: Path, tmp_path: Path, video_id: str) -> None:
    """Case 6: a COCO video_id of ../../outside/evil (or an absolute one) never opens a video outside --src."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(src / "videos" / "ESD_01.mp4", outside / "evil.mp4")  # a real video waiting outside

    def edit(data: dict) -> None:
        for image in data["images"]:
            if image["video_id"] == "ESD_02":
                image["video_id"] = video_id

    _edit_coco(src, edit)
    _refused(src, tmp_path, f"video_id {video_id!r} points outside {src / 'videos'}")


def test_case8_rle_counts_short_of_the_frame_are_refused(src: Path, tmp_path: Path) -> None:
    """Case 8: an uncompressed RLE whose counts sum 156 short of h x w is refused, naming the annotation."""

    def edit(data: dict) -> None:
        image = next(i for i in data["images"] if i["id"] == data["annotations"][0]["image_id"])
        h, w = image["height"], image["width"]
        data["annotations"][0]["segmentation"] = {"size": [h, w], "counts": [h * w - 156 - 500, 500]}

    _edit_coco(src, edit)
    ann_id = json.loads((src / "annotations.json").read_text())["annotations"][0]["id"]
    _refused(src, tmp_path, f"annotation {ann_id}: RLE counts cover 2073444 pixels", "1920 = 2073600")


def test_case8_compressed_counts_are_summed_like_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        binary = np.asfortranarray((rng.random((h, w)) < rng.random()).astype(np.uint8))
        counts = mask_utils.encode(binary)["counts"].decode()
        assert _rle_total(counts) == h * w
    assert _rle_total([5, -1]) == "non-negative integers expected"
    assert _rle_total("P") == "a truncated compressed string"  # 0x20: a continuation that never comes


def test_case18_ffmpeg_lines_stay_out_of_our_output(src: Path, tmp_path: Path, capfd) -> None:
    """Case 18: a broken MP4 gives our one-line error, without FFmpeg's own "moov atom not found"."""
    path = src / "videos" / "ESD_02.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 12)
    _refused(src, tmp_path, str(path), "cannot be opened")
    captured = capfd.readouterr()
    assert "moov atom" not in captured.err + captured.out
