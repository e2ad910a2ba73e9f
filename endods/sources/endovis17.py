"""Reader for the MTLEndovis-Gen sources: EndoVis17 ground truth + EndoVis-17-VQLA frames and labels.

docs/formats.md §3 and §9. The image of a frame is the EndoVis17 `left_frames` PNG cropped at
(320, 28) to 1280×1024 (lossless, and aligned with the cropped mask by construction); the VQLA-17
file only links the frame (stem `seq{K}_frame{XXX}`, or pixel equality of its PNG copy with the
cropped left frame when a stem does not parse) and gives its activity, whatever format its own
image copy has (the public copies are JPEG). The ground truth is one full-size binary folder per
instrument instance, painted in sorted folder order as ISINet's organize2017 does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from endods.errors import SourceError
from endods.fuse import map_states
from endods.sources.base import MaskPart, SourceFrame
from endods.sources.discovery import check_root, child, files, find_one, require, resolve, subdirs, vqla_label_dir
from endods.sources.vqla import read_vqla_label

SOURCE = "endovis17"
CROP = (320, 28, 1280, 1024)  # x0, y0, w, h of the useful window (docs/formats.md §3.1)
# (substring, 2017 type id, MTLEndovis class id); the first matching substring wins (organize2017).
INSTRUMENT_TYPES = (
    ("Bipolar_Forceps", 1, 1),
    ("Prograsp_Forceps", 2, 2),
    ("Large_Needle_Driver", 3, 3),
    ("Vessel_Sealer", 4, 0),
    ("Grasping_Retractor", 5, 0),
    ("Monopolar_Curved_Scissors", 6, 4),
    ("Other", 7, 5),
)
_DATASET_DIR = re.compile(r"instrument_dataset_(\d+)", re.IGNORECASE)
_FRAME_STEM = re.compile(r"frame(\d+)", re.IGNORECASE)
_VQLA_STEM = re.compile(r"seq(\d+)_frame(\d+)", re.IGNORECASE)
# Names the VQLA-17 labels circulate under (docs/formats.md §9.1).
VQLA17_DIR = re.compile(r"endovis-17-vql?a(-extend(ed)?|_extended(_final)?)?", re.IGNORECASE)
VQLA17_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Endovis17Paths:
    root: Path | None
    endovis17: Path
    vqla17: Path


def discover_endovis17(root: Path | None, endovis17: Path | None = None, vqla17: Path | None = None) -> Endovis17Paths:
    """Find both sources under ROOT (case-insensitive) or take the explicit folders; SourceError
    naming the folder looked for and where when ROOT is missing/empty or a source is absent."""
    root = Path(root) if root is not None else None
    check_root(root, "MTLEndovis-Gen")
    e17 = require(
        resolve(root, endovis17, "endovis17", "--endovis17"),
        root,
        "endovis17",
        "--endovis17",
        "EndoVis17 training data",
    )
    vqla = require(
        find_one(root, vqla17, VQLA17_DIR, "--vqla17"), root, "EndoVis-17-VQLA", "--vqla17", "EndoVis-17-VQLA labels"
    )
    if not dataset_dirs(e17):
        raise SourceError(
            f"EndoVis17 training data: no 'instrument_dataset_K' folder found in {e17} "
            "(looked directly inside it and one level deeper, e.g. instrument_1_4_training/)"
        )
    if vqla_label_dir(vqla) is None:
        raise SourceError(
            f"EndoVis-17-VQLA labels: no 'vqla/Classification' (Extended) or 'vqla/label' folder found in {vqla}"
        )
    return Endovis17Paths(root, e17, vqla)


def dataset_dirs(e17: Path) -> dict[int, Path]:
    """instrument_dataset_K folders directly in the EndoVis17 folder or one level deeper (the
    archives unpack as instrument_1_4_training/ and instrument_5_8_training/, docs/formats.md §9.3).

    The same K twice is a SourceError naming both folders: which one holds the labels is unknowable.
    """
    found: dict[int, Path] = {}
    candidates = list(subdirs(e17, _DATASET_DIR))
    for inner in sorted(p for p in e17.iterdir() if p.is_dir() and not _DATASET_DIR.fullmatch(p.name)):
        candidates.extend(subdirs(inner, _DATASET_DIR))
    for match, folder in candidates:
        k = int(match.group(1))
        if k in found:
            raise SourceError(
                f"EndoVis17: instrument_dataset_{k} found twice, {found[k]} and {folder}; keep one of them"
            )
        found[k] = folder
    return found


def instrument_type(folder: str) -> tuple[int, int] | None:
    """(2017 type id, MTLEndovis class id) of a ground-truth folder name, None if no substring matches."""
    lower = folder.lower()
    for substring, type_id, class_id in INSTRUMENT_TYPES:
        if substring.lower() in lower:
            return type_id, class_id
    return None


def _by_number(folder: Path | None) -> dict[int, Path]:
    """frameXXX.png files of a folder keyed by frame number."""
    found: dict[int, Path] = {}
    for path in files(folder, ".png"):
        match = _FRAME_STEM.fullmatch(path.stem)
        if match:
            found.setdefault(int(match.group(1)), path)
    return found


def _ground_truth(dataset: Path) -> list[tuple[int, int, dict[int, Path]]]:
    """(type id, class id, frames) per ground-truth folder in sorted name order; SourceError for an
    unknown folder (checked for every dataset before any per-frame work)."""
    parts = []
    gt = child(dataset, "ground_truth")
    for folder in sorted((p for p in gt.iterdir() if p.is_dir()), key=lambda p: p.name) if gt else []:
        kind = instrument_type(folder.name)
        if kind is None:
            names = [s for s, _t, _c in INSTRUMENT_TYPES]
            raise SourceError(
                f"{folder}: ground-truth folder {folder.name!r} matches no instrument type substring {names}"
            )
        parts.append((kind[0], kind[1], _by_number(folder)))
    return parts


def _pixel_key(path: Path) -> str:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path}: image does not decode (needed to link a VQLA-17 frame by its pixels)")
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


class _PixelIndex:
    """Cropped EndoVis17 left frames by pixel digest, built only if some VQLA stem does not parse."""

    def __init__(self, left: dict[tuple[int, int], Path]) -> None:
        self._left = left
        self._index: dict[str, tuple[int, int]] | None = None

    def find(self, image: Path) -> tuple[int, int] | None:
        if self._index is None:
            x0, y0, w, h = CROP
            self._index = {}
            for key, path in sorted(self._left.items()):
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is not None:
                    crop = np.ascontiguousarray(frame[y0 : y0 + h, x0 : x0 + w])
                    self._index.setdefault(hashlib.sha256(crop.tobytes()).hexdigest(), key)
        return self._index.get(_pixel_key(image))


def _vqla_images(vqla: Path) -> dict[str, Path]:
    """VQLA-17 image copies by lower-case stem, any of .png/.jpg/.jpeg (only used to link odd stems)."""
    folder = child(vqla, "left_frames")
    found: dict[str, Path] = {}
    for suffix in VQLA17_IMAGE_SUFFIXES:
        for path in files(folder, suffix):
            found.setdefault(path.stem.lower(), path)
    return found


def _link_labels(paths: Endovis17Paths, left: dict[tuple[int, int], Path]) -> dict[tuple[int, int], Path]:
    """VQLA-17 label files by (dataset K, frame number)."""
    vqla_images = _vqla_images(paths.vqla17)
    labels: dict[tuple[int, int], Path] = {}
    pixels = _PixelIndex(left)
    for label in files(vqla_label_dir(paths.vqla17), ".txt"):
        match = _VQLA_STEM.fullmatch(label.stem)
        if match:
            key = (int(match.group(1)), int(match.group(2)))
        else:
            image = vqla_images.get(label.stem.lower())
            # only a lossless copy can equal the cropped frame; a JPEG copy never does
            key = pixels.find(image) if image is not None and image.suffix.lower() == ".png" else None
            if key is None:
                raise SourceError(
                    f"{label}: stem {label.stem!r} is not 'seq{{K}}_frame{{XXX}}' and no PNG copy of its image "
                    "equals a cropped EndoVis17 left frame; rename it to seq{K}_frame{XXX}"
                )
        labels.setdefault(key, label)
    return labels


def read_endovis17(paths: Endovis17Paths) -> list[SourceFrame]:
    """One SourceFrame per EndoVis17 frame (and per VQLA-17 label pointing elsewhere), sorted by
    frame_id, `drop` set per docs/formats.md §5.5 (no_vqla_label, no_activity, no_image, no_mask)."""
    datasets = dataset_dirs(paths.endovis17)
    truth = {k: _ground_truth(d) for k, d in sorted(datasets.items())}
    left = {(k, n): p for k, d in datasets.items() for n, p in _by_number(child(d, "left_frames")).items()}
    label_dir = vqla_label_dir(paths.vqla17) or paths.vqla17 / "vqla" / "label"
    labels = _link_labels(paths, left)
    frames = []
    for k, n in set(left) | set(labels):
        name = "frame" + left[(k, n)].stem[5:] if (k, n) in left else f"frame{n:03d}"
        label_path = labels.get((k, n))
        states = read_vqla_label(label_path).states if label_path is not None else ()
        stem = label_path.stem if label_path is not None else f"seq{k}_frame{n:03d}"
        image = left.get((k, n))
        parts = tuple(
            MaskPart(found[n], class_id, type_id) for type_id, class_id, found in truth.get(k, []) if n in found
        )
        dataset_dir = datasets.get(k, paths.endovis17 / f"instrument_dataset_{k}")
        drop = None
        if label_path is None:
            drop = ("no_vqla_label", label_dir / f"{stem}.txt")
        elif not states:
            drop = ("no_activity", label_path)
        elif image is None:
            drop = ("no_image", dataset_dir / "left_frames" / f"{name}.png")
        elif not parts:
            drop = ("no_mask", dataset_dir / "ground_truth")
        frames.append(
            SourceFrame(
                frame_id=f"instrument_dataset_{k}/{name}",
                group=f"instrument_dataset_{k}",
                source=SOURCE,
                image_path=image,
                mask_parts=parts,
                crop=CROP,
                label_path=label_path,
                states=states,
                drop=drop,
                facts={"states": map_states(states), "answers": list(states)},  # §5.4 step 4
            )
        )
    return sorted(frames, key=lambda f: f.frame_id)
