"""Time `export_to_labelstudio` for 2000 real-size (1280x1024) frames with mask predictions.

Builds a synthetic test split (not timed; 16 distinct tissue+instrument frames reused under 2000
frame ids, so every task still has its own image, RLE encoding and prediction), then, per upload
mode, starts a fresh local server with scripts/labelstudio_server.py (a copy of one migrated data
dir, so both modes start from an empty database) and times one export. Prints one JSON line.
Target on the 2-core dev machine: <= 60 s for `--upload local` (the mode for a server on this
machine); `files` is what a remote server needs.
Usage: python benchmarks/labelstudio_export.py [--frames N] [--upload files|local|both]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
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


def timed_export(server, template: Path, tmp: Path, upload: str) -> dict:
    data_dir = tmp / f"ls-{upload}"
    shutil.copytree(template, data_dir)  # migrated, empty: a restart, not a first boot
    handle = server.start(data_dir, document_root=tmp / f"root-{upload}")
    try:
        t0 = time.perf_counter()
        res = export_to_labelstudio(
            tmp / "ds", handle.url, handle.token, title="bench", upload=upload, local_root=handle.document_root
        )
        seconds = time.perf_counter() - t0
    finally:
        handle.stop()
    return {
        "tasks": len(res.task_ids),
        "seconds": round(seconds, 1),
        "tasks_per_s": round(len(res.task_ids) / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--upload", choices=["files", "local", "both"], default="both")
    args = parser.parse_args()
    modes = ["local", "files"] if args.upload == "both" else [args.upload]
    server = server_module()
    with tempfile.TemporaryDirectory(prefix="ls-bench-") as tmp_name:
        tmp = Path(tmp_name)
        image_bytes = build(tmp / "ds", args.frames)
        template = tmp / "ls-template"
        server.start(template).stop()  # first boot: migrations, not timed
        (template / server.PID_NAME).unlink(missing_ok=True)
        results = {mode: timed_export(server, template, tmp, mode) for mode in modes}
    print(
        json.dumps(
            {
                "benchmark": "labelstudio_export",
                "frames": args.frames,
                "size": [W, H],
                "mean_image_png_bytes": image_bytes,
                "cpus": os.cpu_count(),
                "upload": {
                    "files": "import API file upload (commit_to_project=false) + JSON task batches",
                    "local": "PNGs written under the local-files document root + JSON task batches",
                },
                **{mode: results[mode] for mode in modes},
            }
        )
    )


if __name__ == "__main__":
    main()
