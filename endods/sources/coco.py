"""COCO instance-segmentation files of the ESD source (docs/formats.md §4.2): load, check, rasterise.

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
        self.class_names = _check_categories(self.path, _entries(self.path, data, "categories"), num_classes)
        self.images = _check_images(self.path, _entries(self.path, data, "images"))
        _check_annotations(self.path, _entries(self.path, data, "annotations"), self.images, num_classes)
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
                try:
                    binary = self._coco.annToMask(ann)
                except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
                    raise SourceError(
                        f"{self.path}: annotation {ann['id']} (image {image_id}) does not rasterise: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                if binary.shape != mask.shape:
                    raise SourceError(
                        f"{self.path}: annotation {ann['id']} rasterises to {binary.shape[1]}x{binary.shape[0]}, "
                        f"its image {image_id} is {image.width}x{image.height}"
                    )
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


def _entries(path: Path, data: dict, key: str) -> list[dict]:
    """``data[key]`` as a list of JSON objects (missing = empty); anything else names the bad entry."""
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise SourceError(f"{path}: {key!r} must be a list, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SourceError(f"{path}: {key}[{i}] must be a JSON object, got {entry!r}")
    return entries


def _int(path: Path, where: str, key: str, value: object) -> int:
    """An integer field (a JSON int, or a float/string holding one); SourceError naming entry and value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SourceError(f"{path}: {where} has {key} {value!r}, which is not an integer")


def _check_categories(path: Path, categories: list[dict], num_classes: int) -> list[str]:
    """Category ids must be exactly 1..N (the MTLESD seg ids); the names become the class names."""
    named: dict[int, str] = {}
    for i, c in enumerate(categories):
        cid = _int(path, f"categories[{i}]", "id", c.get("id"))
        name = c.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SourceError(f"{path}: category {cid} has no name (got {name!r})")
        named[cid] = name
    expected = list(range(1, num_classes))
    if sorted(named) != expected or len(named) != len(categories):
        ids = sorted(_int(path, f"categories[{i}]", "id", c.get("id")) for i, c in enumerate(categories))
        raise SourceError(f"{path}: categories must have ids {expected}, got {ids}")
    return [named[i] for i in expected]


def _check_images(path: Path, images: list[dict]) -> dict[int, CocoImage]:
    by_id: dict[int, CocoImage] = {}
    seen: dict[str, int] = {}
    for raw in images:
        missing = [k for k in REQUIRED_IMAGE_KEYS if k not in raw]
        if missing:
            raise SourceError(f"{path}: image {raw.get('id', raw)!r} lacks required keys {missing}")
        where = f"image {raw['id']!r}"
        image = CocoImage(
            _int(path, where, "id", raw["id"]),
            str(raw["video_id"]),
            *(_int(path, where, k, raw[k]) for k in ("frame_index", "width", "height")),
        )
        if image.frame_index < 0:
            raise SourceError(f"{path}: image {image.id} has negative frame_index {image.frame_index}")
        if image.width < 1 or image.height < 1:
            raise SourceError(f"{path}: image {image.id} has size {image.width}x{image.height}")
        if image.id in by_id:
            raise SourceError(f"{path}: duplicate image id {image.id}")
        if image.frame_id in seen:
            raise SourceError(f"{path}: images {seen[image.frame_id]} and {image.id} are both frame {image.frame_id}")
        seen[image.frame_id] = image.id
        by_id[image.id] = image
    return by_id


def _check_annotations(path: Path, annotations: list[dict], images: dict[int, CocoImage], num_classes: int) -> None:
    """Unknown category ids are errors (docs/formats.md §5.5); ids must be unique since they order painting."""
    seen: set[int] = set()
    known = range(1, num_classes)
    for ann in annotations:
        ann_id = ann.get("id")
        if ann.get("category_id") not in known:
            raise SourceError(
                f"{path}: annotation {ann_id} has unknown category_id {ann.get('category_id')!r}; "
                f"known ids: {list(known)}"
            )
        image = images.get(ann.get("image_id"))  # type: ignore[arg-type]
        if image is None:
            raise SourceError(f"{path}: annotation {ann_id} refers to unknown image_id {ann.get('image_id')!r}")
        if "segmentation" not in ann:
            raise SourceError(f"{path}: annotation {ann_id} has no segmentation")
        _check_segmentation(path, ann_id, ann["segmentation"], image)
        if ann_id in seen:
            raise SourceError(f"{path}: duplicate annotation id {ann_id}")
        seen.add(ann_id)


def _check_segmentation(path: Path, ann_id: object, seg: object, image: CocoImage) -> None:
    """RLE: its size must be the image's (height, width); polygons: lists of >= 3 (x, y) numbers."""
    if isinstance(seg, dict):
        size = seg.get("size")
        if size != [image.height, image.width] or "counts" not in seg:
            raise SourceError(
                f"{path}: annotation {ann_id}: RLE size {size!r} is not its image's [height, width] "
                f"[{image.height}, {image.width}] (or the RLE has no counts)"
            )
        total = _rle_total(seg["counts"])
        if isinstance(total, str):
            raise SourceError(f"{path}: annotation {ann_id}: RLE does not rasterise: its counts hold {total}")
        if total != image.height * image.width:
            raise SourceError(
                f"{path}: annotation {ann_id}: RLE counts cover {total} pixels, its image has "
                f"{image.height}x{image.width} = {image.height * image.width}; the mask would come out wrong"
            )
    elif isinstance(seg, list) and seg:
        for polygon in seg:
            numbers = isinstance(polygon, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in polygon
            )
            if not numbers or len(polygon) < 6 or len(polygon) % 2:
                raise SourceError(f"{path}: annotation {ann_id}: polygon {polygon!r} is not a list of >= 3 x,y pairs")
    else:
        raise SourceError(f"{path}: annotation {ann_id}: segmentation must be an RLE object or polygons, got {seg!r}")


def _rle_total(counts: object) -> int | str:
    """Pixels an RLE's counts cover (uncompressed list, or COCO's compressed string); a text if malformed.

    The compressed form is decoded as pycocotools' rleFrString does (6-bit groups, deltas from the
    count two back), in pure Python and without allocating the mask.
    """
    if isinstance(counts, list):
        ok = all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        return sum(counts) if ok else "non-negative integers expected"
    if not isinstance(counts, str):
        return f"counts of type {type(counts).__name__}"
    values: list[int] = []
    pos = 0
    while pos < len(counts):
        x, k, more = 0, 0, True
        while more:
            if pos >= len(counts):
                return "a truncated compressed string"
            c = ord(counts[pos]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            pos, k = pos + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(values) > 2:
            x += values[-2]
        if x < 0:
            return "a negative run length"
        values.append(x)
    return sum(values)
