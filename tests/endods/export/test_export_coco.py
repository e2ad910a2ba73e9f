"""COCO export re-read with pycocotools: per-image masks equal the dataset's masks (issue 5 acceptance)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from endods.dataset import open_dataset
from endods.export import export_coco
from endods.pngio import decode_png

# pycocotools' own decode path (reading back) warns under numpy 2; not our code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _check_against_dataset(dataset_path, dest) -> int:
    ds = open_dataset(dataset_path)
    checked = 0
    for split in ds.splits:
        coco = COCO(str(dest / "annotations" / f"instances_{split}.json"))
        by_frame = {img["frame_id"]: img for img in coco.dataset["images"]}
        assert len(by_frame) == ds.num_rows(split)
        for rec in ds.records(split):
            img = by_frame[rec.frame_id]
            mask = decode_png(rec.mask)
            rebuilt = np.zeros(mask.shape, np.uint8)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
                assert ann["iscrowd"] == 1
                rebuilt[coco.annToMask(ann) > 0] = ann["category_id"]
            assert np.array_equal(rebuilt, np.where(mask == 255, 0, mask)), rec.frame_id
            assert img["ignore_pixels"] == int((mask == 255).sum())
            assert (img["activity_id"], img["activity"]) == (rec.activity, ds.labelmap.activities[rec.activity])
            assert (img["width"], img["height"]) == (mask.shape[1], mask.shape[0])
            assert (dest / "images" / split / img["file_name"]).read_bytes() == rec.image
            checked += 1
    return checked


def test_coco_masks_equal_dataset_masks(tiny_built, tmp_path):
    path, frames = tiny_built
    summary = export_coco(path, tmp_path / "coco")
    assert _check_against_dataset(path, tmp_path / "coco") == 8
    assert summary.ignore_pixels == {"train": 80, "test": 0}
    data = json.loads((tmp_path / "coco" / "annotations" / "instances_train.json").read_text())
    assert [(c["id"], c["name"]) for c in data["categories"]][:3] == [
        (1, "Bipolar Forceps"),
        (2, "Prograsp Forceps"),
        (3, "Large Needle Driver"),
    ]
    assert len(data["categories"]) == 7 and data["activities"][3] == {"id": 3, "name": "grasping", "folder": 4}
    # train: frame000 {1}, frame001 {1,2}, seq_2/frame000 {2}, seq_2/frame001 {3}, seq_3/frame000 {} → 5 annotations
    assert len(data["annotations"]) == 5
    ann = next(a for a in data["annotations"] if a["category_id"] == 3)
    assert ann["area"] == 28 * 20 and ann["bbox"] == [30.0, 5.0, 28.0, 20.0]
    assert json.loads((tmp_path / "coco" / "categories.json").read_text())["categories"] == data["categories"]


def test_coco_real_size_build(real_built, tmp_path):
    ds = open_dataset(real_built)
    export_coco(real_built, tmp_path / "coco", splits=["test"])
    assert sorted(p.name for p in (tmp_path / "coco" / "annotations").iterdir()) == ["instances_test.json"]
    coco = COCO(str(tmp_path / "coco" / "annotations" / "instances_test.json"))
    for rec in ds.records("test"):
        img = next(i for i in coco.dataset["images"] if i["frame_id"] == rec.frame_id)
        mask = decode_png(rec.mask, cv2.IMREAD_UNCHANGED)
        rebuilt = np.zeros(mask.shape, np.uint8)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
            rebuilt[coco.annToMask(ann) > 0] = ann["category_id"]
        assert np.array_equal(rebuilt, np.where(mask == 255, 0, mask))
