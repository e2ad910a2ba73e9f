"""Export to COCO: `annotations/instances_<split>.json` with RLE masks, `images/<split>/<name>.png`.

One annotation per segmentation class present in an image (category id = class id 1..N, `iscrowd` 1
because the segmentation is an RLE of every pixel of that class, not one instance). COCO has no
image-level label, so each image carries `activity_id` (ClassLabel index) and `activity` (name), and the
file lists `activities` next to `categories`. Ignore pixels (255) belong to no annotation; each image
records how many it had (`ignore_pixels`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from endods.errors import DatasetError
from endods.export.common import (
    ExportSummary,
    UniqueNames,
    check_dest,
    check_record,
    select_splits,
    staged_dest,
    total_rows,
    write_summary,
)
from endods.export.naming import release_name
from endods.pngio import PngError, decode_png, png_info
from schemas.dataset import BuiltDataset, Record, open_dataset
from schemas.labelmaps import IGNORE_INDEX
from schemas.progress import ProgressFn


def categories(ds: BuiltDataset) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "name": c.name, "supercategory": "segmentation", "color": list(c.color)}
        for c in ds.labelmap.classes[1:]
    ]


def activities(ds: BuiltDataset) -> list[dict[str, Any]]:
    return [{"id": i, "name": n, "folder": i + 1} for i, n in enumerate(ds.labelmap.activities)]


def class_annotations(mask: np.ndarray, image_id: int, first_id: int) -> list[dict[str, Any]]:
    """One RLE annotation per foreground class present, in class id order."""
    anns = []
    for class_id in np.unique(mask):
        if class_id == 0 or class_id == IGNORE_INDEX:
            continue
        rle = mask_utils.encode(np.asfortranarray(mask == class_id, dtype=np.uint8))
        anns.append(
            {
                "id": first_id + len(anns),
                "image_id": image_id,
                "category_id": int(class_id),
                "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
                "area": int(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 1,
            }
        )
    return anns


def export_coco(
    path: Path,
    dest: Path,
    splits: Sequence[str] | None = None,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    verify: bool = True,
) -> ExportSummary:
    """Write one COCO file per split plus the images, atomically under `dest`."""
    check_dest(Path(dest), overwrite, Path(path))
    ds = open_dataset(path)
    chosen = select_splits(ds, splits)
    summary = ExportSummary("coco", Path(dest), ds.manifest.dataset, ds.manifest.version)
    summary.notes.append("category id = segmentation class id; iscrowd=1 (one RLE per class and image)")
    total, done = total_rows(ds, chosen), 0
    if on_progress:
        on_progress(0, total)

    def frame_done() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)

    with staged_dest(dest, overwrite, Path(path)) as staged:
        (staged / "annotations").mkdir()
        names = UniqueNames()
        for split in chosen:
            coco = _export_split(ds, split, staged, names, summary, verify, frame_done)
            (staged / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco) + "\n", encoding="utf-8")
        (staged / "categories.json").write_text(
            json.dumps({"categories": categories(ds), "activities": activities(ds)}, indent=2) + "\n", encoding="utf-8"
        )
        write_summary(staged, summary)
    return summary


def _export_split(
    ds: BuiltDataset,
    split: str,
    staged: Path,
    names: UniqueNames,
    summary: ExportSummary,
    verify: bool,
    frame_done: Callable[[], None],
) -> dict[str, Any]:
    """Write the split's images under `staged/images/<split>`; return its COCO document."""
    image_dir = staged / "images" / split
    image_dir.mkdir(parents=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    summary.frames[split] = summary.ignore_pixels[split] = summary.ignore_frames[split] = 0
    for rec in ds.records(split):
        name = release_name(rec.frame_id) + ".png"
        names.claim(f"{split}/{name}", rec.frame_id)
        try:
            info = png_info(rec.image, verify=False)
            mask = decode_png(rec.mask, cv2.IMREAD_UNCHANGED)
        except PngError as exc:
            raise DatasetError(f"{ds.path}: frame {rec.frame_id} does not decode ({exc})") from exc
        if verify:
            check_record(ds, rec, mask)
        ignored = int((mask == IGNORE_INDEX).sum())
        images.append(_image_entry(ds, rec, len(images) + 1, name, (info.width, info.height), ignored))
        annotations += class_annotations(mask, len(images), len(annotations) + 1)
        (image_dir / name).write_bytes(rec.image)
        summary.frames[split] += 1
        summary.ignore_pixels[split] += ignored
        summary.ignore_frames[split] += int(ignored > 0)
        frame_done()
    return {
        "info": {
            "description": f"{ds.manifest.dataset} {ds.manifest.version} ({split})",
            "version": ds.manifest.version,
        },
        "licenses": [],
        "categories": categories(ds),
        "activities": activities(ds),
        "images": images,
        "annotations": annotations,
    }


def _image_entry(
    ds: BuiltDataset, rec: Record, image_id: int, name: str, size: tuple[int, int], ignored: int
) -> dict[str, Any]:
    """The COCO `images` entry of one record, with the MTL fields (frame id, group, activity)."""
    return {
        "id": image_id,
        "file_name": name,
        "width": size[0],
        "height": size[1],
        "frame_id": rec.frame_id,
        "group": rec.group,
        "source": rec.source,
        "activity_id": rec.activity,
        "activity": ds.labelmap.activities[rec.activity],
        "ignore_pixels": ignored,
    }
