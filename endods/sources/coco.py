"""COCO instance-segmentation files of the ESD source (FORMATS.md §4.2): load, check, rasterise.

Masks are rasterised with pycocotools' own `COCO.annToMask`, so polygons and RLE (compressed or
uncompressed) decode exactly as every other COCO consumer sees them; annotations are painted in
ascending annotation id and a later one wins, which makes overlaps deterministic.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from endods.errors import SourceError

REQUIRED_IMAGE_KEYS = ("id", "width", "height", "video_id", "frame_index")


@dataclass(frozen=True)
class CocoImage:
    """One `images[]` entry: which video frame it is, and the frame size it was annotated at."""

    id: int
    video_id: str
    frame_index: int
    width: int
    height: int

    @property
    def frame_id(self) -> str:
        return f"{self.video_id}/{self.frame_index:06d}"


class CocoMasks:
    """A checked COCO file: categories, images by id, and class-id masks per image."""

    def __init__(self, path: Path, num_classes: int) -> None:
        self.path = Path(path)
        data = _read_json(self.path)
        self.class_names = _check_categories(self.path, data.get("categories", []), num_classes)
        self.images = _check_images(self.path, data.get("images", []))
        _check_annotations(self.path, data.get("annotations", []), set(self.images), num_classes)
        self._coco = COCO()
        self._coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress; library code must not
            self._coco.createIndex()

    def mask(self, image_id: int) -> np.ndarray:
        """uint8 (height, width) class-id mask: 0 = unpainted, later annotation ids overwrite earlier."""
        image = self.images[image_id]
        mask = np.zeros((image.height, image.width), np.uint8)
        with warnings.catch_warnings():  # pycocotools' numpy-2 `copy=` DeprecationWarning, once per call
            warnings.simplefilter("ignore", DeprecationWarning)
            for ann in sorted(self._coco.imgToAnns.get(image_id, []), key=lambda a: a["id"]):
                binary = self._coco.annToMask(ann)
                mask[binary > 0] = ann["category_id"]
        return mask


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read COCO JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: COCO file must be a JSON object, got {type(data).__name__}")
    return data


def _check_categories(path: Path, categories: list, num_classes: int) -> list[str]:
    """Category ids must be exactly 1..N (the MTLESD seg ids); the names become the class names."""
    ids = sorted(int(c["id"]) for c in categories)
    expected = list(range(1, num_classes))
    if ids != expected:
        raise SourceError(f"{path}: categories must have ids {expected}, got {ids}")
    return [str(c["name"]) for c in sorted(categories, key=lambda c: int(c["id"]))]


def _check_images(path: Path, images: list) -> dict[int, CocoImage]:
    by_id: dict[int, CocoImage] = {}
    seen: dict[str, int] = {}
    for raw in images:
        missing = [k for k in REQUIRED_IMAGE_KEYS if k not in raw]
        if missing:
            raise SourceError(f"{path}: image {raw.get('id', raw)!r} lacks required keys {missing}")
        image = CocoImage(
            int(raw["id"]), str(raw["video_id"]), int(raw["frame_index"]), int(raw["width"]), int(raw["height"])
        )
        if image.frame_index < 0:
            raise SourceError(f"{path}: image {image.id} has negative frame_index {image.frame_index}")
        if image.id in by_id:
            raise SourceError(f"{path}: duplicate image id {image.id}")
        if image.frame_id in seen:
            raise SourceError(f"{path}: images {seen[image.frame_id]} and {image.id} are both frame {image.frame_id}")
        seen[image.frame_id] = image.id
        by_id[image.id] = image
    return by_id


def _check_annotations(path: Path, annotations: list, image_ids: set[int], num_classes: int) -> None:
    """Unknown category ids are errors (FORMATS.md §5.5); ids must be unique since they order painting."""
    seen: set[int] = set()
    known = range(1, num_classes)
    for ann in annotations:
        ann_id = ann.get("id")
        if ann.get("category_id") not in known:
            raise SourceError(
                f"{path}: annotation {ann_id} has unknown category_id {ann.get('category_id')!r}; "
                f"known ids: {list(known)}"
            )
        if ann.get("image_id") not in image_ids:
            raise SourceError(f"{path}: annotation {ann_id} refers to unknown image_id {ann.get('image_id')!r}")
        if "segmentation" not in ann:
            raise SourceError(f"{path}: annotation {ann_id} has no segmentation")
        if ann_id in seen:
            raise SourceError(f"{path}: duplicate annotation id {ann_id}")
        seen.add(ann_id)
