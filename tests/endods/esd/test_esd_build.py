"""MTLESD build from the synthetic ESD source: exactly the generator's frames, labels and pixels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from endods.dataset import open_dataset
from endods.esd_build import build_mtlesd
from endods.pngio import decode_png
from endods.synth.esd import EsdSynthReport, synth_esd

X, Y, W, H = 307, 35, 1306, 1009


def _records(out: Path) -> dict:
    ds = open_dataset(out)
    return {r.frame_id: r for split in ds.splits for r in ds.records(split)}


def _coco_truth(src: Path) -> dict[str, np.ndarray]:
    """Full-size masks rasterised straight from the JSON with pycocotools, ascending annotation id."""
    data = json.loads((src / "annotations.json").read_text())
    masks = {}
    for image in data["images"]:
        h, w = image["height"], image["width"]
        mask = np.zeros((h, w), np.uint8)
        anns = sorted((a for a in data["annotations"] if a["image_id"] == image["id"]), key=lambda a: a["id"])
        for ann in anns:
            seg = ann["segmentation"]
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg["counts"], list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            mask[mask_utils.decode(rle) > 0] = ann["category_id"]
        masks[f"{image['video_id']}/{image['frame_index']:06d}"] = mask
    return masks


def test_build_has_exactly_the_reported_frames(esd_source: EsdSynthReport, esd_built: Path) -> None:
    ds = open_dataset(esd_built)
    records = _records(esd_built)
    assert sorted(records) == sorted(esd_source.frames)
    assert len(records) == 12
    truth = _coco_truth(esd_source.root)
    for fid, rec in records.items():
        expected = esd_source.frames[fid]
        assert rec.activity == expected["activity"]
        assert rec.group == expected["group"] and rec.source == "esd"
        image, mask = decode_png(rec.image), decode_png(rec.mask)
        assert image.shape == (H, W, 3) and mask.shape == (H, W)
        assert np.bincount(mask.ravel(), minlength=7).tolist() == expected["class_pixels"]
        np.testing.assert_array_equal(mask, truth[fid][Y : Y + H, X : X + W])
        facts = ds.manifest.frames[fid]
        assert facts["phase"] == expected["phase"]
        assert facts["clipped_pixels"] == expected["clipped_pixels"] > 0
    assert ds.labelmap.activities == ("marking", "injection", "submucosal_dissection")
    assert ds.labelmap.class_names == ["background"] + [f"esd_class_{i}" for i in range(1, 7)]


def test_manifest_counts_drops_and_options(esd_source: EsdSynthReport, esd_built: Path) -> None:
    manifest = open_dataset(esd_built).manifest
    dropped = {d.frame_id: (d.reason, d.path) for d in manifest.dropped}
    assert dropped == {fid: (reason, esd_source.drop_paths[fid]) for fid, reason in esd_source.dropped.items()}
    assert {r for r, _ in dropped.values()} == {"no_phase", "phase_not_selected"}
    pixels = [sum(int(c.class_pixels[str(i)]) for c in manifest.counts.values()) for i in range(7)]
    assert pixels == np.sum([f["class_pixels"] for f in esd_source.frames.values()], axis=0).tolist()
    assert sum(c.frames for c in manifest.counts.values()) == 12
    assert manifest.counts["test"].frames == 2  # round(12 * 0.2)
    assert manifest.options["crop"] == [X, Y, W, H]
    assert manifest.options["activities"] == ["marking", "injection", "submucosal_dissection"]
    assert manifest.options["split"] == "paper" and manifest.options["strict"] is False
    assert manifest.sources["esd"].files == 4  # two videos, phases.csv, annotations.json


def test_images_are_the_decoded_frames_cropped(esd_source: EsdSynthReport, esd_built: Path) -> None:
    records = _records(esd_built)
    for video_id, path in esd_source.videos.items():
        capture = cv2.VideoCapture(str(path))
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            fid = f"{video_id}/{index:06d}"
            if fid in records:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[Y : Y + H, X : X + W]
                np.testing.assert_array_equal(decode_png(records[fid].image)[..., ::-1], rgb)
            index += 1
        capture.release()
        assert index == esd_source.video_frames[video_id]


def test_lossless_video_gives_exact_generator_pixels(tmp_path: Path) -> None:
    report = synth_esd(tmp_path / "src", videos=1, frames=19, seed=5, codec="png")
    assert report.videos["ESD_01"].suffix == ".avi"
    build_mtlesd(report.root, tmp_path / "out", split="group")
    records = _records(tmp_path / "out")
    assert sorted(records) == sorted(report.frames)
    for fid, rec in records.items():
        expected_rgb = report.render(fid)[Y : Y + H, X : X + W]
        np.testing.assert_array_equal(decode_png(rec.image)[..., ::-1], expected_rgb)


def test_builds_are_deterministic(esd_source: EsdSynthReport, esd_built: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    second = build_mtlesd(esd_source.root, tmp_path / "again", on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 12) for i in range(1, 13)]
    for name in ("data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet", "README.md"):
        assert (tmp_path / "again" / name).read_bytes() == (esd_built / name).read_bytes()
    assert second.without_provenance() == open_dataset(esd_built).manifest.without_provenance()


def test_activities_option_relabels_and_filters(esd_source: EsdSynthReport, tmp_path: Path) -> None:
    manifest = build_mtlesd(esd_source.root, tmp_path / "out", activities=("injection", "marking"))
    ds = open_dataset(tmp_path / "out")
    assert ds.labelmap.activities == ("injection", "marking")
    kept = {f for f, e in esd_source.frames.items() if e["phase"] in ("injection", "marking")}
    assert set(manifest.frames) == kept
    for fid in kept:
        assert manifest.frames[fid]["activity"] == esd_source.frames[fid]["phase"]
    dropped = {d.frame_id: d.reason for d in manifest.dropped}
    assert {f for f, r in dropped.items() if r == "phase_not_selected"} >= set(esd_source.frames) - kept


def test_built_dataset_validates(esd_built: Path) -> None:
    from endods.validate import validate_dataset

    assert validate_dataset(esd_built) == []


def test_load_dataset_roundtrip(esd_source: EsdSynthReport, esd_built: Path) -> None:
    import datasets

    dd = datasets.load_dataset(str(esd_built))
    assert dd["train"].features["activity"].names == ["marking", "injection", "submucosal_dissection"]
    seen = 0
    records = _records(esd_built)
    for split in dd:
        for row in dd[split]:
            seen += 1
            assert row["mask"].mode == "L" and row["image"].size == (W, H)
            np.testing.assert_array_equal(np.array(row["mask"]), decode_png(records[row["frame_id"]].mask))
            assert row["activity"] == esd_source.frames[row["frame_id"]]["activity"]
    assert seen == len(esd_source.frames)


def test_annotation_made_at_crop_size_keeps_its_mask_and_crops_the_frame(
    esd_source: EsdSynthReport, esd_built: Path, tmp_path: Path
) -> None:
    """docs/formats.md §4.2: a COCO image of 1306x1009 is already cropped; its 1920x1080 video frame is not."""
    src = tmp_path / "src"
    shutil.copytree(esd_source.root, src)
    frame_id = sorted(esd_source.frames)[0]
    video_id, index = frame_id.split("/")
    data = json.loads((src / "annotations.json").read_text())
    image = next(i for i in data["images"] if i["video_id"] == video_id and i["frame_index"] == int(index))
    image["width"], image["height"] = W, H
    expected = np.zeros((H, W), np.uint8)
    expected[100:300, 200:650] = 3  # a rectangle in cropped coordinates, as an RLE of the crop-size image
    rle = mask_utils.encode(np.asfortranarray((expected > 0).astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != image["id"]]
    data["annotations"].append(
        {
            "id": 99999,
            "image_id": image["id"],
            "category_id": 3,
            "segmentation": rle,
            "iscrowd": 1,
            "area": int(expected.astype(bool).sum()),
            "bbox": [200, 100, 450, 200],
        }
    )
    (src / "annotations.json").write_text(json.dumps(data))
    build_mtlesd(src, tmp_path / "out")
    record = _records(tmp_path / "out")[frame_id]
    assert np.array_equal(decode_png(record.mask), expected)
    assert record.image == _records(esd_built)[frame_id].image  # the same crop of the same decoded frame


def test_cli_workers_2_is_byte_identical_to_workers_1(esd_source: EsdSynthReport, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    outs = {}
    for workers in (1, 2):
        outs[workers] = tmp_path / f"w{workers}"
        args = ["build", "mtlesd", "--src", str(esd_source.root), "--out", str(outs[workers])]
        result = CliRunner().invoke(app, [*args, "--workers", str(workers)])
        assert result.exit_code == 0, result.output
    files = ["README.md", *open_dataset(outs[1]).manifest.outputs]
    assert any(f.endswith(".parquet") for f in files)
    for rel in files:
        assert (outs[2] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    one, two = (json.loads((outs[w] / "manifest.json").read_text()) for w in (1, 2))
    one.pop("provenance"), two.pop("provenance")
    assert one == two and len(one["frames"]) == 12
