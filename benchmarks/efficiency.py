"""Efficiency bench as a plain script: one JSON line on stdout (see `endods bench efficiency`).

Run from the repository root with `PYTHONPATH=. python benchmarks/efficiency.py ...`; it imports only
torch, transformers, safetensors, numpy and our code, so it runs on a bare GPU box
(`benchmarks/gpu_efficiency.sh`).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from endoarss.bench.efficiency import measure_efficiency


def main(argv: list[str] | None = None) -> None:
    """The bench without the CLI's rich/typer, for bare GPU boxes (torch, transformers, safetensors, numpy)."""
    parser = argparse.ArgumentParser(description="EndoARSS efficiency bench (one JSON line on stdout)")
    parser.add_argument("--preset", default="endoarss")
    parser.add_argument("--backbone-size", default="base", choices=["tiny", "small", "base"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", default="bf16", choices=["bf16", "fp16", "none"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--eager-attention", action="store_true", help="attn_implementation='eager' (not SDPA)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ablate", action="store_true", help="measure every optimization on and off")
    parser.add_argument("--only", default="", help="comma-separated subset of the ablation")
    parser.add_argument(
        "--ablate-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include torch.compile in the ablation (default: on CUDA only)",
    )
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args(argv)
    kwargs = {
        "preset": args.preset,
        "backbone_size": args.backbone_size,
        "batch": args.batch,
        "image_size": args.image_size,
        "device": args.device,
        "amp": args.amp,
        "compile": args.compile,
        "gradient_checkpointing": args.gradient_checkpointing,
        "channels_last": args.channels_last,
        "sdpa": not args.eager_attention,
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    if args.ablate:
        from endoarss.bench.ablate import measure_optimizations

        only = tuple(x.strip() for x in args.only.split(",") if x.strip()) or None
        result = measure_optimizations(**kwargs, only=only, ablate_compile=args.ablate_compile)
    else:
        result = measure_efficiency(**kwargs)
    line = json.dumps(result)
    if args.json_out:
        tmp = f"{args.json_out}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(line + "\n")
        os.replace(tmp, args.json_out)
    print(line)


if __name__ == "__main__":
    main()
