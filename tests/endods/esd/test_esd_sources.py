"""ESD source readers: phases.csv parsing and COCO rasterisation order, on hand-made inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from endods.errors import SourceError
from endods.sources.coco import CocoMasks
from endods.sources.esd import phase_at, read_phases

HEADER = "video_id,phase,start_frame,end_frame\n"


def test_read_phases_and_lookup(tmp_path: Path) -> None:
    path = tmp_path / "phases.csv"
    path.write_text(HEADER + "v1,injection,5,9\nv1,marking,0,4\nv2,submucosal_dissection,3,3\n")
    phases = read_phases(path)
    assert [(i.phase, i.start, i.end) for i in phases["v1"]] == [("marking", 0, 4), ("injection", 5, 9)]
    assert [phase_at(phases["v1"], t) for t in (0, 4, 5, 9, 10)] == [
        "marking",
        "marking",
        "injection",
        "injection",
        None,
    ]
    assert phase_at(phases["v2"], 3) == "submucosal_dissection"


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("v1,marking,0,4\nv1,injection,4,6\n", ["v1", "marking [0, 4] (line 2)", "injection [4, 6] (line 3)"]),
        ("v1,cutting,0,4\n", ["line 2", "'cutting'"]),
        ("v1,marking,x,4\n", ["line 2", "v1,marking,x,4"]),
        ("v1,marking,5,4\n", ["line 2", "v1,marking,5,4"]),
    ],
)
def test_read_phases_errors(tmp_path: Path, body: str, needles: list[str]) -> None:
    path = tmp_path / "phases.csv"
    path.write_text(HEADER + body)
    with pytest.raises(SourceError) as info:
        read_phases(path)
    for needle in [str(path), *needles]:
        assert needle in str(info.value)


def _coco(tmp_path: Path, annotations: list[dict]) -> Path:
    data = {
        "images": [{"id": 1, "file_name": "v/000000.png", "width": 5, "height": 4, "video_id": "v", "frame_index": 0}],
        "categories": [{"id": i, "name": f"c{i}"} for i in range(1, 7)],
        "annotations": annotations,
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_paints_in_ascending_annotation_id(tmp_path: Path) -> None:
    left = np.zeros((4, 5), np.uint8)
    left[:, :3] = 1
    compressed = mask_utils.encode(np.asfortranarray(left))
    square = [[0.5, 0.5, 4.5, 0.5, 4.5, 2.5, 0.5, 2.5]]  # rasterises to rows 1-2, columns 1-4
    annotations = [  # listed out of id order on purpose
        {"id": 7, "image_id": 1, "category_id": 6, "iscrowd": 0, "segmentation": square},
        {
            "id": 2,
            "image_id": 1,
            "category_id": 3,
            "iscrowd": 1,
            "segmentation": {"counts": compressed["counts"].decode(), "size": [4, 5]},
        },
        {
            "id": 9,
            "image_id": 1,
            "category_id": 2,
            "iscrowd": 1,
            "segmentation": {"counts": [19, 1], "size": [4, 5]},
        },  # uncompressed: last pixel (column-major)
    ]
    coco = CocoMasks(_coco(tmp_path, annotations), num_classes=7)
    expected = np.array([[3, 3, 3, 0, 0], [3, 6, 6, 6, 6], [3, 6, 6, 6, 6], [3, 3, 3, 0, 2]], np.uint8)
    np.testing.assert_array_equal(coco.mask(1), expected)
    assert coco.class_names == [f"c{i}" for i in range(1, 7)]


def test_coco_errors(tmp_path: Path) -> None:
    ann = {"id": 4, "image_id": 1, "category_id": 8, "iscrowd": 0, "segmentation": [[0, 0, 2, 0, 2, 2]]}
    path = _coco(tmp_path, [ann])
    with pytest.raises(SourceError, match=r"annotations\.json: annotation 4 has unknown category_id 8"):
        CocoMasks(path, num_classes=7)
    data = json.loads(path.read_text())
    del data["images"][0]["frame_index"]
    path.write_text(json.dumps(data))
    with pytest.raises(SourceError, match=r"image 1 lacks required keys \['frame_index'\]"):
        CocoMasks(path, num_classes=7)
