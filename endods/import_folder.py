"""Import a dataset in the released EndoARSS folder layout (docs/formats.md §6.1) into the built-dataset contract.

Layout: `SRC/{train,test|val}/<activity folder 1..N>/{image,mask}/<name>.png`. The split is kept as
given (`val/` is read as test). frame_id and group come back from the file name (`endods.export.naming`:
`seq{N}_frame{XXX}` → `seq_N/frameXXX` for MTLEndovis, `instrument_dataset_N/frameXXX` for the Gen set,
`<video>_<frame:06d>` → `<video>/<frame:06d>` for MTLESD; any other name → frame_id = group = the stem).

Masks are decoded with the inverse of the release encoding: raw 0 → 0, raw k ≥ 2 → k − 1. Raw 1 is
ambiguous (the original loader maps it to background too), so it is read as background and its pixel
count is kept per frame in the manifest (`raw_one_pixels`) rather than silently lost.

Damaged frames (docs/formats.md §5.5: an image without its mask `no_mask`, a mask without its image
`no_image`, a PNG that does not decode or a mask of another size `unreadable_image`) are listed as
dropped, or fail the import with `strict`, like every build. A mask value outside the label map is
always an error: it means the wrong `--dataset`, not one damaged frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from endods.build import run_pool
from endods.errors import SourceError, StrictError
from endods.export.naming import DATASET_SOURCES, parse_release_name
from endods.pngio import COLOR_RGB, PngError, decode_png, encode_png, png_info
from endods.writer import BuildSession, EncodedFrame
from schemas.hashing import sha256_bytes
from schemas.labelmaps import LabelMap, get_labelmap
from schemas.manifest import Manifest
from schemas.progress import ProgressFn

SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "test"}


class DamagedFrameError(SourceError):
    """One frame's image or mask does not decode, or they differ in size (§5.5 `unreadable_image`)."""


@dataclass(frozen=True)
class FolderFrame:
    frame_id: str
    group: str
    split: str
    activity: int
    image: Path
    mask: Path


def _pngs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()}


def _activity(folder: Path, labelmap: LabelMap) -> int:
    name = folder.name
    if not name.isdigit() or not 1 <= int(name) <= labelmap.num_activities:
        raise SourceError(
            f"{folder}: activity folder {name!r} is not an integer 1..{labelmap.num_activities} "
            f"({labelmap.dataset} has {labelmap.num_activities} activities)"
        )
    return int(name) - 1


def _labelmap(dataset: str, class_names: list[str] | None) -> LabelMap:
    labelmap = get_labelmap(dataset)
    if class_names is None:
        return labelmap
    if dataset != "mtlesd":
        raise SourceError(f"class names are fixed for {dataset}; --class-names applies to mtlesd only")
    names = [n.strip() for n in class_names]
    expected = labelmap.num_classes - 1
    if len(names) != expected or not all(names) or len(set(names)) != len(names):
        raise SourceError(
            f"mtlesd needs {expected} distinct, non-empty class names (classes 1..{expected}), got {names}"
        )
    return labelmap.with_class_names(names)


@dataclass
class FolderScan:
    frames: list[FolderFrame]
    unpaired: list[tuple[str, str, Path, str]] = field(default_factory=list)  # (frame id, reason, file, detail)


def scan_folder(src: Path, dataset: str) -> FolderScan:
    """List every image/mask pair and every unpaired file; structural problems are SourceErrors."""
    labelmap = get_labelmap(dataset)
    src = Path(src)
    if not src.is_dir():
        raise SourceError(f"--src {src}: not a folder (expected train/ and test/ or val/ inside)")
    present = [name for name in SPLIT_FOLDERS if (src / name).is_dir()]
    if not present:
        raise SourceError(f"--src {src}: no train/, test/ or val/ folder (the released EndoARSS layout)")
    if "test" in present and "val" in present:
        raise SourceError(f"--src {src}: has both test/ and val/; keep one of them (both would be the test split)")
    scan = FolderScan([])
    seen: dict[str, Path] = {}
    for split_name in present:
        for act_dir in sorted(p for p in (src / split_name).iterdir() if p.is_dir() and not p.name.startswith(".")):
            activity = _activity(act_dir, labelmap)
            images, masks = _pngs(act_dir / "image"), _pngs(act_dir / "mask")
            for stem in sorted(images.keys() ^ masks.keys()):
                frame_id = parse_release_name(stem, dataset)[0]
                if stem in images:
                    detail = f"{images[stem]}: image has no mask (looked for {act_dir / 'mask' / (stem + '.png')})"
                    scan.unpaired.append((frame_id, "no_mask", images[stem], detail))
                else:
                    detail = f"{masks[stem]}: mask has no image (looked for {act_dir / 'image' / (stem + '.png')})"
                    scan.unpaired.append((frame_id, "no_image", masks[stem], detail))
            for stem in sorted(images.keys() & masks.keys()):
                frame_id, group = parse_release_name(stem, dataset)
                if frame_id in seen:
                    raise SourceError(f"{images[stem]} and {seen[frame_id]} are both frame {frame_id!r}")
                seen[frame_id] = images[stem]
                scan.frames.append(
                    FolderFrame(frame_id, group, SPLIT_FOLDERS[split_name], activity, images[stem], masks[stem])
                )
    if not scan.frames and not scan.unpaired:
        raise SourceError(f"--src {src}: no image/mask pairs under {', '.join(present)}")
    return scan


def _image(path: Path, data: bytes) -> tuple[bytes, int, int]:
    try:
        info = png_info(data)
        if info.color_type == COLOR_RGB and info.bit_depth == 8:
            return data, info.width, info.height
        arr = decode_png(data, cv2.IMREAD_COLOR)
    except PngError as exc:
        raise DamagedFrameError(f"{path}: image does not decode ({exc})") from exc
    rgb = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return encode_png(rgb), rgb.shape[1], rgb.shape[0]


def decode_release_mask(path: Path, data: bytes, num_classes: int) -> tuple[np.ndarray, int]:
    """(class-id mask, number of raw-1 pixels read as background); values beyond the label map are errors."""
    try:
        raw = decode_png(data, cv2.IMREAD_UNCHANGED)
    except PngError as exc:
        raise DamagedFrameError(f"{path}: mask does not decode ({exc})") from exc
    if raw.ndim == 3 and all(np.array_equal(raw[..., 0], raw[..., c]) for c in range(1, min(raw.shape[2], 3))):
        raw = raw[..., 0]  # gray saved as RGB: same values in every channel
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise SourceError(f"{path}: mask must be single-channel 8-bit, got shape {raw.shape} {raw.dtype}")
    counts = np.bincount(raw.ravel(), minlength=256)
    bad = np.flatnonzero(counts[num_classes + 1 :])
    if bad.size:
        value = int(bad[0]) + num_classes + 1
        raise SourceError(
            f"{path}: mask value {value} is outside the label map (release encoding allows 0..{num_classes}, "
            f"raw = class id + 1; {int(counts[value])} pixels)"
        )
    mask = np.where(raw >= 2, raw - 1, 0).astype(np.uint8)
    return mask, int(counts[1])


def _encode(f: FolderFrame, src: Path, dataset: str, labelmap: LabelMap) -> EncodedFrame:
    """One image/mask pair as a built frame (runs in a worker thread: PNG decoding releases the GIL)."""
    image_bytes, mask_bytes = f.image.read_bytes(), f.mask.read_bytes()
    image_png, width, height = _image(f.image, image_bytes)
    mask, raw_one = decode_release_mask(f.mask, mask_bytes, labelmap.num_classes)
    if (mask.shape[1], mask.shape[0]) != (width, height):
        raise DamagedFrameError(
            f"mask {f.mask} is {mask.shape[1]}x{mask.shape[0]} but its image {f.image} is {width}x{height}"
        )
    rel_image, rel_mask = f.image.relative_to(src).as_posix(), f.mask.relative_to(src).as_posix()
    return EncodedFrame(
        frame_id=f.frame_id,
        group=f.group,
        source=DATASET_SOURCES[dataset],
        activity=f.activity,
        image_png=image_png,
        mask_png=encode_png(mask),
        class_pixels=tuple(int(n) for n in np.bincount(mask.ravel(), minlength=labelmap.num_classes)),
        facts={"file": rel_image, "raw_one_pixels": raw_one},
        file_hashes={rel_image: sha256_bytes(image_bytes), rel_mask: sha256_bytes(mask_bytes)},
    )


def _damaged(session: BuildSession, strict: bool, frame_id: str, reason: str, path: str, detail: str) -> None:
    if strict:
        raise StrictError(f"{detail} (reason {reason}; --strict given)")
    session.drop(frame_id, reason, path)


def import_endoarss_folder(
    src: Path,
    out: Path,
    dataset: str,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    class_names: list[str] | None = None,
    workers: int = 1,
    strict: bool = False,
) -> Manifest:
    """Build `out` from a released-layout folder; every problem is a SourceError naming the file.

    ``class_names``: names of the foreground classes 1..N, MTLESD only: the released layout carries
    no class names and the ESD classes come from each user's COCO file (default ``esd_class_N``).
    ``workers`` threads decode and encode frames (same bytes for any count); damaged frames are
    dropped and listed, or raise StrictError with ``strict`` (see the module docstring).
    """
    if dataset not in DATASET_SOURCES:
        raise SourceError(f"--dataset {dataset!r} is not importable; choose one of {', '.join(DATASET_SOURCES)}")
    from endods.build import provenance

    labelmap = _labelmap(dataset, class_names)
    src = Path(src)
    scan = scan_folder(src, dataset)
    frames = scan.frames
    split: dict[str, str] = {}

    def encode(f: FolderFrame) -> EncodedFrame | DamagedFrameError:
        try:
            return _encode(f, src, dataset, labelmap)
        except DamagedFrameError as exc:  # decided in order in the caller's thread (strict or drop)
            return exc

    with BuildSession(out, overwrite=overwrite, inputs=[src]) as session:
        for frame_id, reason, path, detail in scan.unpaired:
            _damaged(session, strict, frame_id, reason, path.relative_to(src).as_posix(), detail)
        if on_progress:
            on_progress(0, len(frames))
        for done, (f, result) in enumerate(zip(frames, run_pool(frames, encode, workers), strict=True), start=1):
            if isinstance(result, DamagedFrameError):
                _damaged(
                    session, strict, f.frame_id, "unreadable_image", f.image.relative_to(src).as_posix(), str(result)
                )
            else:
                session.add(result)
                split[f.frame_id] = f.split
            if on_progress:
                on_progress(done, len(frames))
        return session.finish(
            dataset=dataset,
            labelmap=labelmap,
            split=split,
            options={"imported_from": "endoarss-folder", "strict": strict, "crop": None},
            sources={"endoarss_folder": src},
            provenance=provenance({"endoarss_folder": src.resolve()}),
        )
