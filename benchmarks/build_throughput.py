"""Build throughput at real size (1280x1024): endods vs a naive builder vs the I/O floor.

Prints one JSON line of frames/s, measured side by side in one run on the same synthetic tree:
- `endods_w1` / `endods_w2`: `build_mtlendovis` with 1 and 2 workers (whole build incl. Parquet);
- `naive`: decode every image and mask (OpenCV) and re-encode both as PNG, one process;
- `floor`: decode masks only + copy image bytes (the least any correct builder must do).
Usage: python benchmarks/build_throughput.py [--frames N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from endods.build import BuildOptions, build_mtlendovis
from endods.sources.endovis18 import discover_endovis18, read_endovis18
from endods.synth import synth_endovis18


def _naive(frames, dest: Path) -> None:
    for f in frames:
        img = cv2.imread(str(f.image_path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(f.mask_path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(dest / f"{f.group}_{Path(f.frame_id).name}_i.png"), img)
        cv2.imwrite(str(dest / f"{f.group}_{Path(f.frame_id).name}_m.png"), mask)


def _floor(frames, dest: Path) -> None:
    for f in frames:
        cv2.imread(str(f.mask_path), cv2.IMREAD_UNCHANGED)
        shutil.copyfile(f.image_path, dest / f"{f.group}_{Path(f.frame_id).name}.png")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=400, help="frames in total (spread over 4 sequences)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best time of each counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        synth_endovis18(root, sequences=4, frames=max(1, args.frames // 4), seed=0)
        frames = [f for f in read_endovis18(discover_endovis18(root)) if f.drop is None]
        n = len(frames)
        # Warm the page cache and the imports (pyarrow/datasets) so every contender starts equal.
        _floor(frames, Path(tmp))
        warm = Path(tmp) / "warm"
        synth_endovis18(warm, sequences=1, frames=1, seed=1)
        build_mtlendovis(warm, Path(tmp) / "warm-out", BuildOptions(workers=1))
        contenders = {
            "naive": lambda d: _naive(frames, d),
            "floor": lambda d: _floor(frames, d),
            "endods_w1": lambda d: build_mtlendovis(root, d / "out", BuildOptions(workers=1)),
            "endods_w2": lambda d: build_mtlendovis(root, d / "out", BuildOptions(workers=2)),
        }
        best: dict[str, float] = {}
        # Interleaved rounds, best of each: one slow round (page-cache writeback, a busy neighbour)
        # should not decide a ratio.
        for _ in range(args.rounds):
            for name, fn in contenders.items():
                dest = Path(tmp) / name
                dest.mkdir()
                seconds = _timed(lambda fn=fn, dest=dest: fn(dest))
                best[name] = min(best.get(name, seconds), seconds)
                shutil.rmtree(dest)
        results = {name: n / seconds for name, seconds in best.items()}
    out = {
        "frames": n,
        "rounds": args.rounds,
        "frames_per_s": {k: round(v, 2) for k, v in results.items()},
        "ratio_w1_vs_naive": round(results["endods_w1"] / results["naive"], 2),
        "ratio_w1_vs_floor": round(results["endods_w1"] / results["floor"], 2),
        "ratio_w2_vs_w1": round(results["endods_w2"] / results["endods_w1"], 2),
        "targets": {"w1_vs_naive": ">= 3", "w1_vs_floor": ">= 0.7", "w2_vs_w1": ">= 1.5"},
        "cpu_count": __import__("os").cpu_count(),
        "numpy": np.__version__,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
