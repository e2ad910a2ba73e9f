"""Startup time of the `endods` CLI: `--help`, `--version` and a usage error, one JSON line.

Each case runs the entry point (`cli.main:main`) in a fresh interpreter `--repeats` times; the JSON
has the median wall seconds per case and a bare `python -c pass` for reference. The target is
<= 1 s for --help and for any usage error on 2 cores. tests/cli/test_cli_startup.py checks the
cause (no heavy import at startup) rather than the time, which depends on the machine.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = "from cli.main import main; main()"
CASES = {
    "help": ["--help"],
    "version": ["--version"],
    "build_help": ["build", "mtlendovis", "--help"],
    "usage_error": ["report"],
    "unknown_option": ["train", "--no-such-option"],
}


def wall_seconds(argv: list[str], repeats: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, object] = {"python_bare_s": wall_seconds([sys.executable, "-c", "pass"], args.repeats)}
    for name, argv in CASES.items():
        result[f"{name}_s"] = wall_seconds([sys.executable, "-c", ENTRY, *argv], args.repeats)
    result.update(repeats=args.repeats, cpus=os.cpu_count(), python=platform.python_version())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
