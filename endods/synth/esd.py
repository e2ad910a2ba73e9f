"""Synthetic ESD source (docs/formats.md §4.2): videos, phases.csv and a COCO file, with the expected build.

The report's truth is computed here, independently of the reader: each annotation is rasterised
with pycocotools' mask API straight from the geometry written to the JSON, painted in ascending
annotation id, then cropped with the default window. Videos are lossy (mp4v) by default, so image
pixels are only exact with `codec="png"` (lossless PNG-in-AVI, used by tests that compare pixels).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from endods.errors import EndodsError, SourceError
from endods.synth.common import SynthReport, tissue
from endods.synth.esd_coco import HEIGHT, WIDTH, coco_annotation
from endods.synth.tree import TreeWriter, staged_tree
from schemas.labelmaps import ESD_ACTIVITIES, ESD_PHASES

CROP = (307, 35, 1306, 1009)  # the build's default window (docs/formats.md §4.3)
SCOPE_RADIUS = 700  # visible endoscope disc; everything outside is the black frame border
CODECS = {"mp4v": ("mp4v", ".mp4"), "mjpg": ("MJPG", ".avi"), "png": ("png ", ".avi")}
CLASS_COLORS = {
    1: (150, 40, 60),
    2: (240, 240, 235),
    3: (90, 160, 200),
    4: (200, 200, 205),
    5: (60, 60, 70),
    6: (40, 120, 60),
}


@dataclass
class EsdSynthReport(SynthReport):
    """SynthReport plus ESD facts. `frames[fid]` has activity, group, phase, class_pixels (after the
    crop) and clipped_pixels; `dropped[fid]` is the §5.5 reason and `drop_paths[fid]` the manifest path."""

    videos: dict[str, Path] = field(default_factory=dict)
    video_frames: dict[str, int] = field(default_factory=dict)
    drop_paths: dict[str, str] = field(default_factory=dict)
    annotation_kinds: dict[str, int] = field(default_factory=dict)
    scenes: dict[str, _Scene] = field(default_factory=dict, repr=False)

    def render(self, frame_id: str) -> np.ndarray:
        """The full RGB frame as written to the video (exact only for lossless codecs)."""
        video_id, index = frame_id.rsplit("/", 1)
        return self.scenes[video_id].render(int(index))


@dataclass
class _Scene:
    """One video's moving shapes; shape k of frame t is a pure function of (params, t)."""

    background: np.ndarray
    categories: tuple[int, int, int, int]
    params: np.ndarray  # per shape: x, y, dx, dy (pixels, pixels per frame)
    vignette: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def shapes(self, t: int) -> list[tuple[str, int, object]]:
        """(kind, category, geometry) in painting order: two ellipses (RLE) then two tools (polygons)."""
        (lx, ly, ldx, ldy), (mx, my, mdx, mdy), (sx, sy, sdx, sdy), (tx, ty, tdx, tdy) = self.params
        lesion = ((int(lx + ldx * t), int(ly + ldy * t)), (170, 110), 15 * t % 180)
        marks = ((int(mx + mdx * t), int(my + mdy * t)), (60, 45), 0)
        # a tool shaft entering from the left of the scope: partly left of the crop window (x < 307)
        sx0, sy0 = sx + sdx * t, sy + sdy * t
        shaft = [[265.0, sy0 - 30, sx0, sy0 - 18, sx0, sy0 + 18, 265.0, sy0 + 30]]
        tx0, ty0 = tx + tdx * t, ty + tdy * t
        tip = [
            [tx0, ty0, tx0 + 120, ty0 - 40, tx0 + 140, ty0 + 10, tx0 + 20, ty0 + 50],
            [tx0 + 150, ty0 - 60, tx0 + 200, ty0 - 70, tx0 + 190, ty0 - 20],
        ]
        c = self.categories
        return [("ellipse", c[0], lesion), ("ellipse", c[1], marks), ("polygon", c[2], shaft), ("polygon", c[3], tip)]

    def render(self, t: int) -> np.ndarray:
        image = self.background.copy()
        for kind, category, geometry in self.shapes(t):
            color = CLASS_COLORS[category]
            if kind == "ellipse":
                center, axes, angle = geometry  # type: ignore[misc]
                cv2.ellipse(image, center, axes, angle, 0, 360, color, -1)
            else:
                polys = [np.round(np.array(p).reshape(-1, 2)).astype(np.int32) for p in geometry]  # type: ignore[union-attr]
                cv2.fillPoly(image, polys, color)
        return cv2.bitwise_and(image, self.vignette)


def _vignette() -> np.ndarray:
    disc = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    cv2.circle(disc, (WIDTH // 2, HEIGHT // 2), SCOPE_RADIUS, (255, 255, 255), -1)
    return disc


def _phase_layout(rng: np.random.Generator, frames: int) -> list[tuple[str, int, int]]:
    """Six phases in a seeded order, each `step - 1` frames long, with one unphased frame between."""
    step = (frames - 1) // len(ESD_PHASES)
    order = rng.permutation(len(ESD_PHASES))
    return [(ESD_PHASES[p], 1 + k * step, k * step + step - 1) for k, p in enumerate(order)]


def _annotated_indices(rng: np.random.Generator, layout: list[tuple[str, int, int]], frames: int) -> list[int]:
    """Two frames per selected phase, one per other phase, and one unphased frame."""
    chosen = []
    for phase, start, end in layout:
        count = 2 if phase in ESD_ACTIVITIES else 1
        chosen += [int(i) for i in rng.choice(np.arange(start, end + 1), size=count, replace=False)]
    unphased = [i for i in range(frames) if not any(s <= i <= e for _, s, e in layout)]
    chosen.append(int(rng.choice(unphased)))
    return sorted(chosen)


def synth_esd(
    dest: Path,
    videos: int = 2,
    frames: int = 48,
    seed: int = 0,
    fps: int = 10,
    *,
    codec: str = "mp4v",
    end_early: int | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> EsdSynthReport:
    """Write DEST/videos/, DEST/phases.csv and DEST/annotations.json; return the expected build.

    With `end_early=n`, the last video holds only its first n frames while its annotations and
    phases still refer to later ones: those in selected phases must come out `frame_out_of_range`.
    """
    if videos < 1 or frames < 19 or codec not in CODECS or (end_early is not None and not 1 <= end_early < frames):
        raise EndodsError(
            f"synth esd: need videos >= 1, frames >= 19, codec in {sorted(CODECS)}, 1 <= end_early < frames; "
            f"got videos={videos}, frames={frames}, codec={codec!r}, end_early={end_early}"
        )
    dest, rng = Path(dest), np.random.default_rng(seed)
    report = EsdSynthReport("esd", dest)
    vignette = _vignette()
    phase_rows, images, annotations = [], [], []
    with staged_tree(dest, ("videos", "phases.csv", "annotations.json"), overwrite) as out:
        (out.root / "videos").mkdir()
        for v in range(videos):
            video_id = f"ESD_{v + 1:02d}"
            layout = _phase_layout(rng, frames)
            phase_rows += [(video_id, p, s, e) for p, s, e in layout]
            scene = _random_scene(rng, vignette)
            report.scenes[video_id] = scene
            written = end_early if end_early is not None and v == videos - 1 else frames
            path = out.root / "videos" / f"{video_id}{CODECS[codec][1]}"
            # rendering video frames is the slow part: progress counts them
            _write_video(
                path,
                scene,
                written,
                (fps, codec),
                lambda t, v=v: _tick(on_progress, v * frames + t + 1, videos * frames),
            )
            report.videos[video_id] = dest / "videos" / path.name
            report.video_frames[video_id] = written
            for t in _annotated_indices(rng, layout, frames):
                frame_id = f"{video_id}/{t:06d}"
                painted = _annotate_frame(images, annotations, report, scene, video_id, t)
                _expect_frame(
                    report,
                    frame_id,
                    painted,
                    next((p for p, s, e in layout if s <= t <= e), None),
                    t >= written,
                    path.name,
                )
        _write_index(out, phase_rows, images, annotations)
        report.files = out.files + videos
    if on_progress is not None:
        on_progress(videos * frames, videos * frames)
    return report


def _random_scene(rng: np.random.Generator, vignette: np.ndarray) -> _Scene:
    """Four tools of seeded categories at jittered places over seeded tissue."""
    categories = tuple(int(c) for c in rng.permutation(np.arange(1, 7))[:4])
    jitter = rng.uniform([-80, -60, -4, -3], [80, 60, 4, 3], size=(4, 4))
    base = np.array([[900, 520, 0, 0], [1150, 380, 0, 0], [640, 560, 0, 0], [880, 640, 0, 0]], float)
    return _Scene(tissue(rng, HEIGHT, WIDTH), categories, base + jitter, vignette)  # type: ignore[arg-type]


def _tick(on_progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if on_progress is not None:
        on_progress(done, total)


def _write_video(
    path: Path, scene: _Scene, written: int, fps_codec: tuple[int, str], progress: Callable[[int], None]
) -> None:
    """Render the first `written` frames of `scene` into a video at `path` (`fps_codec`: frame rate, CODECS key)."""
    fps, codec = fps_codec
    fourcc = CODECS[codec][0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SourceError(f"OpenCV cannot write {path} with codec {fourcc!r}")
    for t in range(written):
        writer.write(cv2.cvtColor(scene.render(t), cv2.COLOR_RGB2BGR))
        progress(t)
    writer.release()


def _annotate_frame(
    images: list, annotations: list, report: EsdSynthReport, scene: _Scene, video_id: str, t: int
) -> np.ndarray:
    """Append frame `t`'s COCO image and annotations; return its class mask as a build must paint it."""
    image_id = len(images) + 1
    images.append(
        {
            "id": image_id,
            "file_name": f"{video_id}/{t:06d}.png",
            "width": WIDTH,
            "height": HEIGHT,
            "video_id": video_id,
            "frame_index": t,
        }
    )
    painted = np.zeros((HEIGHT, WIDTH), np.uint8)
    for kind, category, geometry in scene.shapes(t):
        ann, binary = coco_annotation(len(annotations) + 1, image_id, kind, category, geometry)
        annotations.append(ann)
        painted[binary > 0] = category  # ascending annotation id: later wins
        key = "polygon" if kind == "polygon" else ("rle_uncompressed" if ann["id"] % 2 else "rle_compressed")
        report.annotation_kinds[key] = report.annotation_kinds.get(key, 0) + 1
    return painted


def _expect_frame(
    report: EsdSynthReport, frame_id: str, painted: np.ndarray, phase: str | None, past_end: bool, video: str
) -> None:
    """Record what a correct build does with an annotated frame: keep it (with its counts) or drop it, and why."""
    if phase is None or phase not in ESD_ACTIVITIES:
        report.dropped[frame_id] = "no_phase" if phase is None else "phase_not_selected"
        report.drop_paths[frame_id] = "phases.csv"
    elif past_end:
        report.dropped[frame_id] = "frame_out_of_range"
        report.drop_paths[frame_id] = f"videos/{video}"
    else:
        x0, y0, cw, ch = CROP
        cropped = painted[y0 : y0 + ch, x0 : x0 + cw]
        report.frames[frame_id] = {
            "activity": ESD_ACTIVITIES.index(phase),
            "group": frame_id.split("/")[0],
            "phase": phase,
            "class_pixels": np.bincount(cropped.ravel(), minlength=7).tolist(),
            "clipped_pixels": int(np.count_nonzero(painted) - np.count_nonzero(cropped)),
        }


def _write_index(out: TreeWriter, phase_rows: list, images: list, annotations: list) -> None:
    """phases.csv and annotations.json."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([("video_id", "phase", "start_frame", "end_frame"), *phase_rows])
    out.write("phases.csv", buf.getvalue())
    # annotations are listed newest first so that a reader relying on list order would paint wrongly
    categories_json = [{"id": i, "name": f"esd_class_{i}", "supercategory": "esd"} for i in range(1, 7)]
    out.write_json(
        "annotations.json", {"images": images, "annotations": annotations[::-1], "categories": categories_json}
    )
