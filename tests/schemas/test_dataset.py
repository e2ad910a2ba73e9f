"""schemas.dataset: the one reader of a built dataset, shared by endods and endoarss, without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.dataset import DatasetError, check_outputs_unchanged, open_dataset, parquet_files
from schemas.records import SPLITS

READ_WITHOUT_TORCH = """
import json, sys
from schemas.dataset import check_outputs_unchanged, open_dataset
ds = open_dataset(sys.argv[1])
check_outputs_unchanged(ds.path)
counts = {s: sum(1 for _ in ds.records(s)) for s in ds.splits}
print(json.dumps({"counts": counts, "rows": {s: ds.num_rows(s) for s in ds.splits},
                  "torch": "torch" in sys.modules, "dataset": ds.manifest.dataset}))
"""


def test_reads_a_built_dataset_without_importing_torch(built_mtlendovis: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", READ_WITHOUT_TORCH, str(built_mtlendovis)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["torch"] is False
    assert result["dataset"] == "mtlendovis"
    assert result["counts"] == result["rows"] and set(result["counts"]) == set(SPLITS)
    assert all(n > 0 for n in result["counts"].values())


def test_records_match_the_manifest_frames(built_mtlendovis: Path) -> None:
    ds = open_dataset(built_mtlendovis)
    seen = {rec.frame_id: split for split in ds.splits for rec in ds.records(split)}
    assert seen == {fid: entry["split"] for fid, entry in ds.manifest.frames.items()}
    rec = next(ds.records("train"))
    assert rec.image.startswith(b"\x89PNG") and rec.mask.startswith(b"\x89PNG")


def test_shards_sort_naturally(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for name in ("train-10.parquet", "train-2.parquet", "train-1.parquet", "test-0.parquet"):
        (tmp_path / "data" / name).write_bytes(b"")
    assert [p.name for p in parquet_files(tmp_path, "train")] == [
        "train-1.parquet",
        "train-2.parquet",
        "train-10.parquet",
    ]


def test_hash_check_names_the_changed_file(built_mtlendovis: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(built_mtlendovis, copy)
    check_outputs_unchanged(copy)  # an untouched copy passes
    shard = parquet_files(copy, "test")[0]
    shard.write_bytes(shard.read_bytes() + b"x")
    with pytest.raises(DatasetError, match=rf"changed after it was built \(data/{shard.name}: sha256 differs"):
        check_outputs_unchanged(copy)


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(tmp_path / "nothing")
    with pytest.raises(DatasetError, match="no manifest.json"):
        open_dataset(tmp_path)
