"""benchmarks/build_identical.py's comparison, run on two builds of this checkout (so non-determinism fails)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from endods.build import BuildOptions, build_mtlendovis
from endods.split import SplitConfig

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "build_identical.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("build_identical", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_builds_of_this_checkout_are_identical_and_a_flipped_byte_is_caught(tmp_path, endovis18_source):
    script = _load_script()
    options = BuildOptions(split=SplitConfig("paper", 0.2, 0))
    build_mtlendovis(endovis18_source[0], tmp_path / "a", options)
    two_workers = BuildOptions(split=SplitConfig("paper", 0.2, 0), workers=2)
    build_mtlendovis(endovis18_source[0], tmp_path / "b", two_workers)
    assert script.differing_files(tmp_path / "a", tmp_path / "b") == []

    shutil.copytree(tmp_path / "b", tmp_path / "c")
    shard = next((tmp_path / "c" / "data").glob("train-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    (tmp_path / "c" / "extra.txt").write_text("x")
    assert script.differing_files(tmp_path / "a", tmp_path / "c") == [
        "extra.txt",
        f"data/{shard.name}",
    ]


def test_manifest_ignores_only_the_named_volatile_fields(tmp_path, built_mtlendovis):
    script = _load_script()
    left, right = tmp_path / "l", tmp_path / "r"
    shutil.copytree(built_mtlendovis, left)
    shutil.copytree(built_mtlendovis, right)
    manifest = json.loads((right / "manifest.json").read_text())
    manifest["provenance"].update(created="2000-01-01T00:00:00+00:00", git_sha="0" * 40, pid=1)
    manifest["tool"]["version"] = "9.9.9"
    (right / "manifest.json").write_text(json.dumps(manifest))
    assert script.differing_files(left, right) == []

    manifest["options"]["seed"] = 12345
    (right / "manifest.json").write_text(json.dumps(manifest))
    assert script.differing_files(left, right) == ["manifest.json"]
