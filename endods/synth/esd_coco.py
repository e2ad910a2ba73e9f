"""COCO annotations of the synthetic ESD source, in the three segmentation forms (docs/formats.md §4.2).

Polygons, uncompressed RLE (counts list) and compressed RLE (counts string); each comes with its
mask as pycocotools decodes it, the truth a correct reader must reproduce.
"""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

WIDTH, HEIGHT = 1920, 1080


def _ellipse_mask(geometry: tuple) -> np.ndarray:
    center, axes, angle = geometry
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.ellipse(mask, center, axes, angle, 0, 360, 1, -1)
    return mask


def _uncompressed_rle(binary: np.ndarray) -> dict:
    """COCO uncompressed RLE: run lengths over the column-major pixels, starting with a 0-run."""
    flat = binary.ravel(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        counts = [0, *counts]
    return {"counts": [int(c) for c in counts], "size": [HEIGHT, WIDTH]}


def coco_annotation(ann_id: int, image_id: int, kind: str, category: int, geometry: object) -> tuple[dict, np.ndarray]:
    """COCO annotation dict and its binary mask as pycocotools decodes it (the truth)."""
    if kind == "polygon":
        segmentation: object = [[round(float(v), 1) for v in poly] for poly in geometry]  # type: ignore[union-attr]
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, HEIGHT, WIDTH))
        iscrowd = 0
    else:
        binary = _ellipse_mask(geometry)  # type: ignore[arg-type]
        if ann_id % 2:  # odd ids: uncompressed RLE (counts list); even: compressed (counts string)
            segmentation = _uncompressed_rle(binary)
            rle = mask_utils.frPyObjects(segmentation, HEIGHT, WIDTH)
        else:
            rle = mask_utils.encode(np.asfortranarray(binary))
            segmentation = {"counts": rle["counts"].decode("ascii"), "size": [HEIGHT, WIDTH]}
        iscrowd = 1
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category,
        "segmentation": segmentation,
        "iscrowd": iscrowd,
        "area": float(mask_utils.area(rle)),
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
    }
    return ann, mask_utils.decode(rle)
