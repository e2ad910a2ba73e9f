"""Time `export_to_labelstudio` for 2000 real-size (1280x1024) frames with mask predictions.

Starts a local server with scripts/labelstudio_server.py, builds a synthetic test split (not
timed; 16 distinct tissue+instrument frames reused under 2000 frame ids, so every task still has
its own upload, RLE encoding and prediction), then prints one JSON line with the export seconds.
Target on the 2-core dev machine: <= 60 s. Usage: python benchmarks/labelstudio_export.py [--frames N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from endods.labelstudio import export_to_labelstudio  # noqa: E402
from endods.pngio import encode_png  # noqa: E402
from endods.synth.common import gray_shade, paint_tool, tissue, tool_canvas  # noqa: E402
from endods.writer import BuildSession, EncodedFrame  # noqa: E402
from schemas.labelmaps import MTLENDOVIS  # noqa: E402

H, W = 1024, 1280


def server_module():
    spec = importlib.util.spec_from_file_location("labelstudio_server", ROOT / "scripts" / "labelstudio_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def synth_frame(rng: np.random.Generator) -> tuple[bytes, bytes, tuple[int, ...]]:
    image = tissue(rng, H, W)
    mask = np.zeros((H, W), np.uint8)
    for cls in rng.choice(np.arange(1, 8), size=2, replace=False):
        canvas = tool_canvas(rng, H, W)
        paint_tool(image, canvas, gray_shade(rng, H, W))
        mask[canvas > 0] = cls
    counts = tuple(int(n) for n in np.bincount(mask.ravel(), minlength=256)[: MTLENDOVIS.num_classes])
    return encode_png(image), encode_png(mask), counts


def build(out: Path, frames: int) -> int:
    rng = np.random.default_rng(0)
    pool = [synth_frame(rng) for _ in range(16)]
    with BuildSession(out) as session:
        for i in range(frames):
            image, mask, counts = pool[i % len(pool)]
            session.add(
                EncodedFrame(f"seq_{i // 100}/frame{i:05d}", f"seq_{i // 100}", "synth", i % 12, image, mask, counts)
            )
        session.finish("mtlendovis", MTLENDOVIS, {f"seq_{i // 100}/frame{i:05d}": "test" for i in range(frames)})
    return sum(len(p[0]) for p in pool) // len(pool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    server = server_module()
    with tempfile.TemporaryDirectory(prefix="ls-bench-") as tmp:
        image_bytes = build(Path(tmp) / "ds", args.frames)
        handle = server.start(Path(tmp) / "ls")
        try:
            t0 = time.perf_counter()
            res = export_to_labelstudio(Path(tmp) / "ds", handle.url, handle.token, project="bench")
            seconds = time.perf_counter() - t0
        finally:
            handle.stop()
    print(
        json.dumps(
            {
                "benchmark": "labelstudio_export",
                "tasks": len(res.task_ids),
                "size": [W, H],
                "mean_image_png_bytes": image_bytes,
                "upload": "import API files (commit_to_project=false) + JSON task batches",
                "seconds": round(seconds, 1),
                "tasks_per_s": round(len(res.task_ids) / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
