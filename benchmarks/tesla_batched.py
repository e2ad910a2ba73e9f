"""Benchmark: TESLA batched pass vs per-task loop (forward + backward), one JSON line on stdout.

Random DINOv2 of ViT-S/14 (``--size small``) or ViT-B/14 (``--size base``) shape, T=2 tasks, 224x224.
Reports the median time of each mode, their ratio (batched / loop; target <= 1.0 on CPU) and the
max abs difference of the outputs (target <= 1e-5 in float32). The two modes are timed in adjacent
pairs whose order alternates, so drift in machine load and allocator/cache state hits both alike;
``pair_ratio_*`` give the median and range of the per-pair ratios (their spread is the noise floor).

    python benchmarks/tesla_batched.py [--device cpu|cuda] [--batch 8] [--size small] [--repeats 8] [--sma]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from endoarss.models import backbone_config_for, create_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    out = model(images)
    (out["activity"].float().logsumexp(1).mean() + out["segmentation"].float().mean()).backward()
    return out


def run(device: str, batch: int, size: str, repeats: int, image: int = 224, sma: bool = False) -> dict[str, object]:
    dev = torch.device(device)
    torch.manual_seed(0)
    config = backbone_config_for("dinov2", size)
    model = create_model("dinov2", "tesla", backbone_config=config, image_size=image, sma=sma).to(dev)
    with torch.no_grad():  # non-zero adapters so the two tasks really differ
        for name, p in model.named_parameters():
            if "adapter_B" in name or "lora_B" in name:
                p.normal_(0, 0.02)
    model.eval()  # BN on running stats: batched and per-task outputs are comparable
    images = torch.randn(batch, 3, image, image, device=dev)
    times: dict[str, list[float]] = {"batched": [], "loop": []}
    outputs = {}
    for mode in ("loop", "batched"):  # one warm-up step each
        model.mode = mode
        outputs[mode] = {k: v.detach() for k, v in _step(model, images).items()}
    pair_ratios = []
    for r in range(repeats):
        for mode in ("loop", "batched") if r % 2 == 0 else ("batched", "loop"):
            model.mode = mode
            _sync(dev)
            start = time.perf_counter()
            _step(model, images)
            _sync(dev)
            times[mode].append(time.perf_counter() - start)
        pair_ratios.append(times["batched"][-1] / times["loop"][-1])
    diff = max((outputs["batched"][t] - outputs["loop"][t]).abs().max().item() for t in outputs["loop"])
    batched, loop = statistics.median(times["batched"]), statistics.median(times["loop"])
    return {
        "benchmark": "tesla_batched",
        "device": device,
        "size": size,
        "batch": batch,
        "tasks": 2,
        "image": image,
        "repeats": repeats,
        "sma": sma,
        "threads": torch.get_num_threads(),
        "batched_s": round(batched, 4),
        "loop_s": round(loop, 4),
        "ratio_batched_over_loop": round(batched / loop, 3),
        "pair_ratio_median": round(statistics.median(pair_ratios), 3),
        "pair_ratio_range": [round(min(pair_ratios), 3), round(max(pair_ratios), 3)],
        "max_abs_diff": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--repeats", type=int, default=8, help="timed loop/batched pairs")
    parser.add_argument("--sma", action="store_true", help="with the SMA block, as in the endoarss preset")
    args = parser.parse_args()
    print(json.dumps(run(args.device, args.batch, args.size, args.repeats, sma=args.sma)))


if __name__ == "__main__":
    main()
