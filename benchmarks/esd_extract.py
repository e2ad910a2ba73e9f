"""ESD frame extraction: single forward pass (endods.esd_build.decode_frames) vs seek-per-frame.

The baseline opens each video once and seeks with CAP_PROP_POS_FRAMES before every annotated frame,
which is what a naive extractor does; OpenCV's seek jumps back to a keyframe and re-decodes forward.
Prints one JSON line (frames/s of each, speedup). Usage: python benchmarks/esd_extract.py [--videos 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from endods.esd_build import decode_frames
from endods.synth.common import tissue


def write_video(path: Path, frames: int, rng: np.random.Generator) -> None:
    background = tissue(rng, 1080, 1920)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1920, 1080))
    for t in range(frames):
        frame = background.copy()
        cv2.circle(frame, (400 + 3 * t, 540), 120, (200, 200, 205), -1)
        writer.write(frame)
    writer.release()


def single_pass(videos: dict[Path, list[int]]) -> int:
    got = 0
    for path, indices in videos.items():
        got += sum(frame is not None for _, frame, _ in decode_frames(path, indices))
    return got


def seek_per_frame(videos: dict[Path, list[int]]) -> int:
    got = 0
    for path, indices in videos.items():
        capture = cv2.VideoCapture(str(path))
        for index in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, _ = capture.read()
            got += ok
        capture.release()
    return got


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--annotated", type=int, default=60)
    args = parser.parse_args()
    if not 0 < args.annotated <= args.frames:
        parser.error(f"--annotated must be between 1 and --frames ({args.frames}), got {args.annotated}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        videos = {}
        for v in range(args.videos):
            path = Path(tmp) / f"ESD_{v + 1:02d}.mp4"
            write_video(path, args.frames, rng)
            videos[path] = sorted(int(i) for i in rng.choice(args.frames, args.annotated, replace=False))
        total = args.videos * args.annotated
        t0 = time.perf_counter()
        assert single_pass(videos) == total
        t1 = time.perf_counter()
        assert seek_per_frame(videos) == total
        t2 = time.perf_counter()
    result = {
        "benchmark": "esd_extract",
        "videos": args.videos,
        "frames_per_video": args.frames,
        "annotated_per_video": args.annotated,
        "codec": "mp4v 1920x1080",
        "single_pass_fps": round(total / (t1 - t0), 2),
        "seek_per_frame_fps": round(total / (t2 - t1), 2),
        "speedup": round((t2 - t1) / (t1 - t0), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
