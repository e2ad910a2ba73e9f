"""Byte-identity of builds across a refactor: the code of an older git revision vs this checkout.

Extracts `--before REV` (default: the merge-base with `main`, else `HEAD~1`) with `git archive`, then, with
the shared venv's python and PYTHONPATH pointing at each code tree in turn:
1. runs `endods synth` (endovis18, endovis17, esd) with both codes and compares the two source trees;
2. builds mtlendovis, mtlendovis-gen and mtlesd with both codes from the SAME sources (this checkout's synth),
   each side writing to the same `--out` path in turn so the recorded command line matches too;
3. compares every output file byte for byte.

`manifest.json` is compared as JSON with the volatile fields removed: `provenance.created` (wall clock),
`provenance.git_sha` (the code's commit), `provenance.pid` (the build's process id) and `tool.version`
(the package version). Everything else in it, including `version` (the hash of the outputs), must match.
Prints one JSON line: {"before": REV, "synth": {...}, "datasets": {name: {"identical": bool, "differing": [...]}}}.
Usage: python benchmarks/build_identical.py [--before REV]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOLATILE = {"provenance": ("created", "git_sha", "pid"), "tool": ("version",)}
SYNTH = {
    "endovis18": ["--sequences", "2", "--frames", "3"],
    "endovis17": ["--sequences", "2", "--frames", "3"],
    "esd": ["--sequences", "2"],
}
BUILDS = {
    "mtlendovis": ["--src", "{src}"],
    "mtlendovis-gen": ["--src", "{src}"],
    "mtlesd": ["--src", "{src}/esd"],
}


def manifest_without_volatile(path: Path) -> dict:
    """The manifest's JSON with the fields that differ between two runs of identical code removed."""
    data = json.loads(path.read_text())
    for section, keys in VOLATILE.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    return data


def differing_files(left: Path, right: Path) -> list[str]:
    """Relative paths present in only one tree or whose bytes differ (manifests: see VOLATILE)."""
    names_left = {p.relative_to(left).as_posix() for p in left.rglob("*") if p.is_file()}
    names_right = {p.relative_to(right).as_posix() for p in right.rglob("*") if p.is_file()}
    differing = sorted(names_left ^ names_right)
    for name in sorted(names_left & names_right):
        a, b = left / name, right / name
        if Path(name).name == "manifest.json":
            same = manifest_without_volatile(a) == manifest_without_volatile(b)
        else:
            same = a.read_bytes() == b.read_bytes()
        if not same:
            differing.append(name)
    return differing


def run_endods(code: Path, args: list[str]) -> None:
    """`endods ARGS` with the package code of `code` (PYTHONPATH wins over the editable install)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-c", "from cli.main import main; main()", *args]
    proc = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed with code {code}:\n{proc.stdout}\n{proc.stderr}")


def synth_sources(code: Path, dest: Path) -> None:
    for kind, args in SYNTH.items():
        target = dest / "esd" if kind == "esd" else dest
        run_endods(code, ["synth", kind, str(target), "--seed", "0", *args])


def build_dataset(code: Path, name: str, src: Path, out: Path, keep: Path) -> None:
    """Build into `out` (same path for both sides), then move the result to `keep`."""
    args = [a.format(src=src) for a in BUILDS[name]]
    run_endods(code, ["build", name, *args, "--out", str(out), "--overwrite"])
    shutil.move(str(out), str(keep))


def compare_codes(old: Path, new: Path, work: Path) -> dict:
    """Synth with both codes, build every dataset with both from this checkout's sources, compare."""
    synth_sources(old, work / "src_old")
    synth_sources(new, work / "src")
    result: dict = {"synth": {"identical": None, "differing": differing_files(work / "src_old", work / "src")}}
    result["synth"]["identical"] = not result["synth"]["differing"]
    result["datasets"] = {}
    for name in BUILDS:
        for side, code in (("old", old), ("new", new)):
            build_dataset(code, name, work / "src", work / "out", work / f"{name}_{side}")
        diff = differing_files(work / f"{name}_old", work / f"{name}_new")
        result["datasets"][name] = {"identical": not diff, "differing": diff}
    return result


def default_before() -> str:
    base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=REPO, capture_output=True, text=True)
    return base.stdout.strip() if base.returncode == 0 and base.stdout.strip() else "HEAD~1"


def extract_revision(rev: str, dest: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=None, help="older git revision (default: merge-base with main)")
    args = parser.parse_args()
    before = args.before or default_before()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old_code"
        old.mkdir()
        extract_revision(before, old)
        result = {"before": before, **compare_codes(old, REPO, Path(tmp) / "work")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
