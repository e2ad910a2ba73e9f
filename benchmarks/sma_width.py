"""Benchmark: the SMA width ``sma_dim`` traded against accuracy, speed and memory on the demo task.

Builds the demo's synthetic MTLEndovis once (``endods demo``: same sources, split and seed), then for
each width trains the demo config (``cli/demo.py`` DEMO_TRAINING, only ``sma_dim`` and, if given,
``epochs`` changed) and evaluates the best checkpoint on the test split. Prints one JSON line per width:
test ``miou_fg`` and ``ac``, the median training throughput (img/s, from ``metrics.jsonl``), the wall
time of training, and the activations the SMA block stores per image for the backward pass at the
demo's 112 px and at 224 px (bytes of the tensors autograd saves, ``saved_tensors_hooks``).

    python benchmarks/sma_width.py [--widths 4,16,64] [--epochs 24] [--out /tmp/sma-width]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def demo_overrides(width: int, epochs: int | None) -> list[str]:
    """The demo's training overrides with ``sma_dim`` (and ``epochs`` if given) replaced."""
    from cli.demo import DEMO_TRAINING

    keep = [o for o in DEMO_TRAINING if not o.startswith("sma_dim=") and not (epochs and o.startswith("epochs="))]
    return [*keep, f"sma_dim={width}", *([f"epochs={epochs}"] if epochs else [])]


def median_throughput(metrics_lines: list[str]) -> float | None:
    """Median ``throughput_img_s`` over the training records of a run's ``metrics.jsonl``."""
    values = [r["throughput_img_s"] for r in map(json.loads, metrics_lines) if r.get("throughput_img_s")]
    return statistics.median(values) if values else None


def width_record(
    width: int, epochs: int, metrics: dict[str, Any], img_s: float | None, train_s: float, sma_bytes: dict[int, int]
) -> dict[str, Any]:
    """One output line: the width's test accuracy, speed and SMA activation memory per image."""
    return {
        "benchmark": "sma_width",
        "sma_dim": width,
        "epochs": epochs,
        "test_miou_fg": metrics.get("miou_fg"),
        "test_ac": metrics.get("ac"),
        "train_img_s": img_s,
        "train_seconds": round(train_s, 1),
        **{f"sma_activation_mib_per_image_{px}px": round(b / MIB, 2) for px, b in sma_bytes.items()},
    }


def sma_activation_bytes(width: int, image_size: int, batch: int = 2) -> int:
    """Bytes autograd saves for the backward pass in one training forward of the SMA block, per image."""
    import torch

    from endoarss.models.registry import COMMON_OPTIONS as MODEL_DEFAULTS
    from endoarss.models.sma import SMA

    torch.manual_seed(0)
    opts = MODEL_DEFAULTS  # the other SMA settings as every preset builds them (kernel, patch, EMA groups)
    block = SMA(3, opts["sma_kernel"], width, opts["sma_patch"], opts["sma_ema_groups"]).train()
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    x = torch.randn(batch, 3, image_size, image_size, requires_grad=False)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return sum(saved) // batch


def build_demo_dataset(root: Path) -> Path:
    """The demo's synthetic sources and MTLEndovis build (seed 0), under ``root``."""
    from cli.demo import DEMO_SOURCES
    from endods.build import BuildOptions, build_mtlendovis
    from endods.split import SplitConfig
    from endods.synth import synth_endovis18

    dataset = root / "mtlendovis"
    if not (dataset / "manifest.json").exists():
        synth_endovis18(root / "sources", seed=0, **DEMO_SOURCES)
        build_mtlendovis(root / "sources", dataset, BuildOptions(split=SplitConfig("paper", 0.2, 0), workers=2))
    return dataset


def run_width(dataset: Path, root: Path, width: int, epochs: int | None) -> dict[str, Any]:
    """Train and test one width; returns its output line."""
    from endoarss.config import build_config
    from endoarss.engine.trainer import train
    from endoarss.inference.evaluate import evaluate_run

    run = root / f"run-d{width}"
    shutil.rmtree(run, ignore_errors=True)
    cfg = build_config("endoarss", demo_overrides(width, epochs))
    start = time.perf_counter()
    train(cfg, dataset, run)
    train_s = time.perf_counter() - start
    metrics = evaluate_run(run, dataset, "test", checkpoint="best")["metrics"]
    img_s = median_throughput((run / "metrics.jsonl").read_text().splitlines())
    memory = {px: sma_activation_bytes(width, px) for px in (112, 224)}
    return width_record(width, cfg.epochs, metrics, img_s, train_s, memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="4,16,64", help="comma-separated sma_dim values")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every width (default: the demo's)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sma-width"), help="work folder (dataset, runs)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = build_demo_dataset(args.out)
    for width in (int(w) for w in args.widths.split(",")):
        print(json.dumps(run_width(dataset, args.out, width, args.epochs)), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
