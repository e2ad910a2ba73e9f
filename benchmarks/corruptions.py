"""Throughput of every robustness corruption (images/s) at 1280x1024 and 224x224, one JSON line.

Each (corruption, size) runs on a synthetic surgical frame at severity 3 (and 5 for the slowest
parameters, glass_blur and zoom_blur grow with severity), repeated until `--budget` seconds or
`--repeats` runs, whichever comes first; the first call of each corruption is a warm-up (lazy imports).

    .venv/bin/python benchmarks/corruptions.py [--budget 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from endoarss.robustness import CORRUPTIONS, corrupt
from endoarss.robustness.synthetic import tissue_frame

SIZES = {"1280x1024": (1024, 1280), "224x224": (224, 224)}


def images_per_second(image, name: str, severity: int, budget_s: float, repeats: int) -> float:  # noqa: ANN001
    corrupt(image, name, severity, seed=0)  # warm-up
    runs, start = 0, time.perf_counter()
    while runs < repeats and (runs == 0 or time.perf_counter() - start < budget_s):
        corrupt(image, name, severity, seed=runs + 1)
        runs += 1
    return runs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per (corruption, size, severity)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--severities", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args()
    frames = {label: tissue_frame(h, w, seed=0) for label, (h, w) in SIZES.items()}
    results: dict[str, dict[str, float]] = {}
    for name in CORRUPTIONS:
        for label, frame in frames.items():
            for severity in args.severities:
                key = f"{label}@s{severity}"
                rate = images_per_second(frame, name, severity, args.budget, args.repeats)
                results.setdefault(name, {})[key] = round(rate, 2)
    slowest = sorted(CORRUPTIONS, key=lambda n: min(results[n].values()))[:5]
    record = {
        "benchmark": "robustness_corruptions",
        "unit": "images/s",
        "machine": platform.processor() or platform.machine(),
        "budget_s": args.budget,
        "repeats": args.repeats,
        "results": results,
        "slowest": slowest,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
