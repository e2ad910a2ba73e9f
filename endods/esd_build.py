"""Build MTLESD from ESD videos + phases + COCO masks (docs/formats.md §4, §5.3, §5.5).

Each video is decoded in one forward pass: `grab()` skips frames nobody annotated, `read()`
decodes only annotated ones, and the pass stops after the last needed frame. Seeking with
CAP_PROP_POS_FRAMES is avoided on purpose: it is not frame-exact for every codec and re-decodes
from the previous keyframe for every request (see benchmarks/esd_extract.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from endods.build import run_pool
from endods.errors import OptionError, SourceError, StrictError
from endods.pngio import encode_png
from endods.sources.esd import COCO_NAME, PHASES_NAME, EsdPlan, PlannedFrame, open_video, plan_esd
from endods.writer import BuildSession, EncodedFrame, SplitConfig
from schemas.hashing import sha256_file
from schemas.labelmaps import ESD_ACTIVITIES, ESD_PHASES, MTLESD, LabelMap
from schemas.manifest import Manifest
from schemas.progress import ProgressFn

DEFAULT_CROP = (307, 35, 1306, 1009)  # centred 1306x1009 window of a 1920x1080 frame (docs/formats.md §4.3)
Crop = tuple[int, int, int, int]


def parse_crop(text: str) -> Crop:
    """`x,y,w,h` (non-negative integers, w and h > 0) → a crop box."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise OptionError(f"--crop must be four integers x,y,w,h, got {text!r}") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise OptionError(f"--crop needs x,y >= 0 and w,h > 0, got {text!r}")
    return x, y, w, h


def parse_activities(text: str | Sequence[str]) -> tuple[str, ...]:
    """Comma-separated ESD phases used as activities, in ClassLabel order; unknown or repeated → error."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) else [str(n).strip() for n in text]
    names = [n for n in names if n]
    if not names:
        raise OptionError(f"--activities needs at least one phase, got {text!r}")
    unknown = [n for n in names if n not in ESD_PHASES]
    if unknown:
        raise OptionError(f"--activities has unknown phase {unknown[0]!r}; known: {', '.join(ESD_PHASES)}")
    if len(set(names)) != len(names):
        raise OptionError(f"--activities lists a phase twice: {text!r}")
    return tuple(names)


def esd_labelmap(activities: Sequence[str], class_names: list[str]) -> LabelMap:
    """MTLESD's label map with the chosen activities (default = paper's three) and the COCO class names."""
    base = MTLESD if tuple(activities) == ESD_ACTIVITIES else LabelMap("mtlesd", tuple(activities), MTLESD.classes)
    return LabelMap(base.dataset, base.activities, base.classes, "MTLESD").with_class_names(class_names)


def decode_frames(path: Path, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray | None, int]]:
    """One forward pass: yield (index, BGR frame or None if past the end, frames decoded so far)."""
    capture = open_video(path)
    try:
        if not capture.isOpened():
            raise SourceError(f"video {path} cannot be opened")
        position = 0  # index of the next frame the decoder returns
        ended = False
        for index in sorted(set(indices)):
            while not ended and position < index:
                ended = not capture.grab()
                position += 0 if ended else 1
            frame = None
            if not ended:
                ok, frame = capture.read()
                ended = not ok
                position += 1 if ok else 0
            yield index, (frame if not ended else None), position
    finally:
        capture.release()


def _check_crop(plan: EsdPlan, crop: Crop) -> None:
    x, y, w, h = crop
    for frames in plan.frames.values():
        for pf in frames:
            size = (pf.image.width, pf.image.height)
            if size != (w, h) and (x + w > size[0] or y + h > size[1]):
                raise OptionError(
                    f"crop {x},{y},{w},{h} does not fit image {pf.image.id} ({pf.image.frame_id}) of size "
                    f"{size[0]}x{size[1]} in {COCO_NAME}"
                )


def _encode(pf: PlannedFrame, bgr: np.ndarray, mask: np.ndarray, crop: Crop, num_classes: int) -> EncodedFrame:
    x, y, w, h = crop
    painted = int(np.count_nonzero(mask))
    # docs/formats.md §4.2: a 1920x1080 annotation is cropped like its frame; one made at the crop size is
    # "already cropped" and kept, while a full-size video frame is still cropped to match it.
    if bgr.shape[:2] != (h, w):
        bgr = bgr[y : y + h, x : x + w]
    if mask.shape != (h, w):
        mask = mask[y : y + h, x : x + w]
    clipped = painted - int(np.count_nonzero(mask))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    class_pixels = tuple(int(n) for n in np.bincount(mask.ravel(), minlength=num_classes)[:num_classes])
    return EncodedFrame(
        frame_id=pf.image.frame_id,
        group=pf.image.video_id,
        source="esd",
        activity=pf.activity,
        image_png=encode_png(rgb),
        mask_png=encode_png(np.ascontiguousarray(mask)),
        class_pixels=class_pixels,
        facts={"phase": pf.phase, "clipped_pixels": clipped},
    )


def _annotated_cropped(pf: PlannedFrame, bgr: np.ndarray, crop: Crop) -> bool:
    """The COCO image has the crop's size and the crop window fits the decoded frame."""
    x, y, w, h = crop
    return (pf.image.width, pf.image.height) == (w, h) and bgr.shape[0] >= y + h and bgr.shape[1] >= x + w


def _check_and_encode(
    plan: EsdPlan,
    video: Path,
    pf: PlannedFrame,
    item: tuple[int, np.ndarray | None, int],
    crop: Crop,
    num_classes: int,
) -> EncodedFrame | tuple[str, str, str]:
    """The encoded frame, or (frame id, drop reason, detail) for a damaged one (§5.5)."""
    index, bgr, decoded = item
    if bgr is None:
        detail = f"video {video} ends after {decoded} frames; frame {index} ({pf.image.frame_id})"
        return pf.image.frame_id, "frame_out_of_range", detail
    if bgr.shape[:2] != (pf.image.height, pf.image.width) and not _annotated_cropped(pf, bgr, crop):
        got = f"{bgr.shape[1]}x{bgr.shape[0]}"
        detail = (
            f"video {video} frame {index} is {got}, but {COCO_NAME} image {pf.image.id} "
            f"says {pf.image.width}x{pf.image.height}"
        )
        return pf.image.frame_id, "unreadable_image", detail
    return _encode(pf, bgr, plan.coco.mask(pf.image.id), crop, num_classes)


def _damaged(session: BuildSession, strict: bool, frame_id: str, reason: str, path: str, detail: str) -> None:
    """§5.5 damaged frames: listed drop by default, StrictError under --strict."""
    if strict:
        raise StrictError(f"{detail} (reason {reason}; --strict given)")
    session.drop(frame_id, reason, path)


@dataclass(frozen=True)
class _VideoJob:
    """The annotated frames of one ESD video to crop and encode."""

    plan: EsdPlan
    src: Path
    video: Path
    frames: list[PlannedFrame]
    crop: Crop
    num_classes: int


def _add_video(
    session: BuildSession, job: _VideoJob, workers: int, strict: bool, frame_done: Callable[[], None]
) -> None:
    """Decode one video's annotated frames and add them (or their §5.5 drops) to the session."""
    rel = job.video.relative_to(job.src).as_posix()
    session.add_file_hashes({rel: sha256_file(job.video)})
    by_index = {pf.image.frame_index: pf for pf in job.frames}

    def work(item: tuple[int, np.ndarray | None, int]) -> EncodedFrame | tuple[str, str, str]:
        return _check_and_encode(job.plan, job.video, by_index[item[0]], item, job.crop, job.num_classes)

    # Decoding stays sequential (one video stream); cropping and PNG encoding run in `workers`
    # threads, in frame order, so the output does not depend on the worker count.
    for result in run_pool(decode_frames(job.video, list(by_index)), work, workers):
        if isinstance(result, EncodedFrame):
            session.add(result)
        else:
            _damaged(session, strict, *result[:2], rel, result[2])
        frame_done()


def build_mtlesd(
    src: Path,
    out: Path,
    *,
    crop: Crop = DEFAULT_CROP,
    activities: Sequence[str] = ESD_ACTIVITIES,
    split: str = "paper",
    test_fraction: float = 0.2,
    seed: int = 0,
    overwrite: bool = False,
    strict: bool = False,
    on_progress: ProgressFn | None = None,
    provenance: dict | None = None,
    workers: int = 1,
) -> Manifest:
    """Check all inputs, extract the annotated frames of the selected phases, and write the dataset.

    `workers` threads crop and encode frames; the output is byte-identical for any count.
    """
    src, activities = Path(src), parse_activities(activities)
    crop = parse_crop(",".join(str(v) for v in crop))
    try:
        split_config = SplitConfig(mode=split, test_fraction=test_fraction, seed=seed)  # type: ignore[arg-type]
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    plan = plan_esd(src, activities)
    _check_crop(plan, crop)
    labelmap = esd_labelmap(activities, plan.coco.class_names)
    done = 0

    def frame_done() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, plan.total)

    with BuildSession(out, overwrite=overwrite, inputs=[src]) as session:
        for frame_id, reason, path in plan.drops:
            session.drop(frame_id, reason, path)
        session.add_file_hashes({name: sha256_file(src / name) for name in (PHASES_NAME, COCO_NAME)})
        for video_id, frames in plan.frames.items():
            video = _VideoJob(plan, src, plan.videos[video_id], frames, crop, labelmap.num_classes)
            _add_video(session, video, workers, strict, frame_done)
        options = {"crop": list(crop), "activities": list(activities), "strict": strict}
        prov = {"source_roots": {"esd": str(src.resolve())}, **(provenance or {})}
        return session.finish(
            dataset="mtlesd",
            labelmap=labelmap,
            split=split_config,
            options=options,
            sources={"esd": src},
            provenance=prov,
        )
