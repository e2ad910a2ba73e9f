"""Decoded-sample cache (issue 20) and the model-side dataset checks (issue 16, cases 7 and 10).

Cache: cached and uncached samples are identical; a damaged, truncated or foreign entry is rebuilt
with a warning; a changed dataset gets a new entry; no disk falls back to no cache; two processes
filling one cache end with one valid entry; training resumes exactly with the cache on.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from endoarss.data.augment import AugmentParams
from endoarss.data.cache_setup import attach_cache, verify_dataset
from endoarss.data.dataset import DataError, SegActDataset, open_split
from endoarss.data.sample_cache import INDEX_FILE, CacheWarning
from schemas.manifest import Manifest
from tests.endoarss.conftest import TINY_OVERRIDES, seal, write_dataset

ROOT = Path(__file__).resolve().parents[3]


def _dataset(data: Path, train: bool, verify: bool = True) -> SegActDataset:
    augment = AugmentParams() if train else None
    return SegActDataset(open_split(data, "train" if train else "test"), (56, 56), train, augment, 7, verify)


def _items(ds: SegActDataset, epoch: int = 1) -> list[dict]:
    return [ds[(i, epoch)] for i in range(len(ds))]


def _same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x["frame_id"] == y["frame_id"] and x["activity"] == y["activity"]
        assert torch.equal(x["image"], y["image"])
        if "mask" in x:
            assert torch.equal(x["mask"], y["mask"])
        else:
            np.testing.assert_array_equal(x["label_mask"], y["label_mask"])


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_cached_and_uncached_samples_are_identical(tiny_dataset: Path, tmp_path: Path, train: bool) -> None:
    plain = _dataset(tiny_dataset, train)
    cached = _dataset(tiny_dataset, train)
    assert attach_cache(cached, str(tmp_path)) is not None
    for epoch in (0, 3):
        _same(_items(plain, epoch), _items(cached, epoch))
    (entry,) = _entries(tmp_path)
    assert entry.name.endswith("-train-84x84" if train else "-test-eval-56x56")  # 56 x max scale 1.5 = 84
    reopened = _dataset(tiny_dataset, train)
    attach_cache(reopened, str(tmp_path))
    assert reopened.cache is not None and _entries(tmp_path) == [entry]  # the second use reads, not rebuilds
    _same(_items(plain), _items(reopened))


def test_eval_arrays_match_a_direct_decode(tiny_dataset: Path, tmp_path: Path) -> None:
    """Evaluation pixels are today's: the full frame resized to the input, mask untouched at label size."""
    from endoarss.data.augment import resize_image
    from endoarss.data.frames import decode_record

    ds = _dataset(tiny_dataset, train=False)
    attach_cache(ds, str(tmp_path))
    image, mask = decode_record(ds.data.table[2])
    item = ds[2]
    np.testing.assert_array_equal(item["image"].numpy().transpose(1, 2, 0), resize_image(image, (56, 56)))
    np.testing.assert_array_equal(item["label_mask"], mask)


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "other_version", "bad_index"])
def test_a_damaged_cache_is_rebuilt_never_used(tiny_dataset: Path, tmp_path: Path, damage: str) -> None:
    ds = _dataset(tiny_dataset, train=True)
    attach_cache(ds, str(tmp_path))
    expected = _items(_dataset(tiny_dataset, train=True))
    (entry,) = _entries(tmp_path)
    if damage == "flip_byte":
        with open(entry / "images.u8", "r+b") as fh:
            fh.seek(5000)
            byte = fh.read(1)
            fh.seek(5000)
            fh.write(bytes([byte[0] ^ 0xFF]))
        why = "does not match its checksum"
    elif damage == "truncate":
        with open(entry / "masks.u8", "r+b") as fh:
            fh.truncate(100)
        why = "truncated"
    elif damage == "other_version":
        index = json.loads((entry / INDEX_FILE).read_text())
        index["key"]["dataset"] = "0" * 64
        (entry / INDEX_FILE).write_text(json.dumps(index))
        why = "another dataset version"
    else:
        (entry / INDEX_FILE).write_text("{not json")
        why = "unreadable index"
    again = _dataset(tiny_dataset, train=True)
    with pytest.warns(CacheWarning, match=f"{why}.*rebuilding it"):
        attach_cache(again, str(tmp_path))
    assert again.cache is not None
    _same(expected, _items(again))
    assert _entries(tmp_path) == [entry] and not [p for p in tmp_path.iterdir() if ".stale-" in p.name]


def test_a_changed_dataset_gets_a_new_entry(tiny_dataset: Path, tmp_path: Path) -> None:
    changed = write_dataset(tmp_path / "changed", seed=9)  # same shape and names, other pixels
    cache = tmp_path / "cache"
    first = _dataset(tiny_dataset, train=False)
    attach_cache(first, str(cache))
    second = _dataset(changed, train=False)
    attach_cache(second, str(cache))
    assert len(_entries(cache)) == 2
    _same(_items(_dataset(changed, train=False)), _items(second))
    assert not torch.equal(first[0]["image"], second[0]["image"])


def test_no_disk_space_falls_back_to_no_cache(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("shutil.disk_usage", lambda path: shutil._ntuple_diskusage(10**6, 10**6 - 10, 10))
    ds = _dataset(tiny_dataset, train=True)
    with pytest.warns(CacheWarning, match="not used .*reading frames without a cache"):
        assert attach_cache(ds, str(tmp_path)) is None
    assert ds.cache is None and _entries(tmp_path) == []
    _same(_items(_dataset(tiny_dataset, train=True)), _items(ds))


def test_a_write_error_mid_fill_falls_back_and_leaves_nothing(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    """ENOSPC while writing (a disk that fills up during the build) is a warning, not a crash."""
    calls = {"n": 0}

    class Full(io.FileIO):
        def write(self, data):  # noqa: ANN001, ANN202
            calls["n"] += 1
            if calls["n"] > 3:
                raise OSError(28, "No space left on device")
            return super().write(data)

    import endoarss.data.sample_cache as sc

    monkeypatch.setattr(sc, "open", lambda path, mode="r", **kw: Full(path, mode.replace("b", "")), raising=False)
    ds = _dataset(tiny_dataset, train=True)
    with pytest.warns(CacheWarning, match="No space left on device"):
        assert attach_cache(ds, str(tmp_path)) is None
    assert _entries(tmp_path) == []


def test_cache_off_and_default_root(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    ds = _dataset(tiny_dataset, train=False)
    assert attach_cache(ds, "off") is None and ds.cache is None
    monkeypatch.setenv("ENDODS_CACHE", str(tmp_path / "home"))
    assert attach_cache(ds, "auto") is not None
    assert len(_entries(tmp_path / "home" / "samples")) == 1
    assert not list(tiny_dataset.rglob("*.u8"))  # never inside the dataset


FILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from endoarss.data.augment import AugmentParams
    from endoarss.data.dataset import SegActDataset, open_split
    from endoarss.data.cache_setup import attach_cache
    ds = SegActDataset(open_split(sys.argv[1], "train"), (56, 56), True, AugmentParams(), 0)
    assert attach_cache(ds, sys.argv[2], 0) is not None
    print(len(ds.cache))
    """
)


def test_two_processes_filling_one_cache_end_with_one_valid_entry(tiny_dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", FILL_SCRIPT, str(tiny_dataset), str(cache)]
    procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in outs]
    assert [out.decode().strip() for out, _ in outs] == ["16", "16"]
    (entry,) = _entries(cache)
    assert not [p for p in cache.iterdir() if ".tmp-" in p.name]
    ds = _dataset(tiny_dataset, train=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # valid: opened without a rebuild
        attach_cache(ds, str(cache))
    _same(_items(_dataset(tiny_dataset, train=True)), _items(ds))


def test_exact_resume_with_the_cache_on(tiny_dataset: Path, tmp_path: Path) -> None:
    """A run stopped mid-epoch and resumed through the cache ends identical to a straight uncached run."""
    from safetensors.torch import load_file

    from endoarss.config import build_config
    from endoarss.engine.trainer import train

    overrides = [*TINY_OVERRIDES, "epochs=2", "weighting=ew", "eval_every=0"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(build_config("endoarss", [*overrides, "cache=off"]), tiny_dataset, straight)
    cached = [*overrides, f"cache={tmp_path / 'cache'}"]
    train(build_config("endoarss", [*cached, "max_steps=6"]), tiny_dataset, split)
    assert len(_entries(tmp_path / "cache")) == 2  # train arrays + eval arrays
    train(build_config("endoarss", cached), tiny_dataset, split, resume=True)
    a = load_file(str(straight / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(split / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- issue 16 (cases 7, 10)
def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _tampered(src: Path, out: Path, column: str, cell: dict, reseal: bool = True) -> Path:
    """A copy of ``src`` whose first train frame's ``column`` cell is replaced (manifest re-sealed)."""
    import datasets

    shutil.copytree(src, out)
    (path,) = (out / "data").glob("train-*.parquet")
    table = datasets.Dataset.from_parquet(str(path))
    rows = table.to_dict()
    rows[column][0] = cell
    datasets.Dataset.from_dict(rows, features=table.features).to_parquet(str(path))
    if reseal:
        seal(out, Manifest.model_validate_json((out / "manifest.json").read_text()))
    return out


def test_case7_a_path_cell_is_a_contract_error_never_a_file_read(tiny_dataset: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png(np.zeros((64, 80, 3), np.uint8)))
    data = _tampered(tiny_dataset, tmp_path / "ds", "image", {"bytes": None, "path": str(secret)})
    for verify in (True, False):
        ds = _dataset(data, train=True, verify=verify)
        with pytest.raises(DataError, match=r"frame seq_train/frame000: the image cell names a file .*not read"):
            ds[0]


def test_case10_mask_values_outside_the_label_map(tiny_dataset: Path, tmp_path: Path) -> None:
    mask = np.zeros((64, 80), np.uint8)
    mask[:4] = 200  # MTLEndovis has 10 classes; 200 is neither a class nor the ignore id
    data = _tampered(tiny_dataset, tmp_path / "ds", "mask", {"bytes": _png(mask), "path": None})
    verify_dataset(data)  # re-sealed: the hashes alone cannot tell
    with pytest.raises(DataError, match=r"frame seq_train/frame000: mask values \[200\] are outside the label map"):
        attach_cache(_dataset(data, train=True), str(tmp_path / "cache"))  # the fill is the check
    assert not (tmp_path / "cache").exists() or _entries(tmp_path / "cache") == []
    lenient = SegActDataset(open_split(data, "train"), (56, 56), False, verify=False)  # label-resolution masks
    _, label = lenient.prepare(0)
    assert label[:4].max() == 255 and label[4:].max() < 10  # ignored, never an IndexError


def test_case10_jpeg_bytes_are_refused(tiny_dataset: Path, tmp_path: Path) -> None:
    image = np.full((64, 80, 3), 120, np.uint8)
    data = _tampered(tiny_dataset, tmp_path / "ds", "image", {"bytes": _png(image, "JPEG"), "path": None})
    with pytest.raises(DataError, match=r"frame seq_train/frame000: the image bytes are not a PNG"):
        _dataset(data, train=True)[0]
    assert _dataset(data, train=True, verify=False)[0]["image"].shape == (3, 56, 56)


def test_case10_train_verifies_hashes_and_no_verify_is_recorded(tiny_dataset: Path, tmp_path: Path) -> None:
    from endoarss.config import build_config
    from endoarss.engine.trainer import train

    mask = np.zeros((64, 80), np.uint8)
    mask[:, :8] = 77
    data = _tampered(tiny_dataset, tmp_path / "ds", "mask", {"bytes": _png(mask), "path": None}, reseal=False)
    overrides = [*TINY_OVERRIDES, "epochs=1", "max_steps=1", "eval_every=0", "cache=off"]
    with pytest.raises(DataError, match=r"changed after it was built.*--no-verify"):
        train(build_config("endoarss", overrides), data, tmp_path / "run")
    summary = train(build_config("endoarss", [*overrides, "verify=false"]), data, tmp_path / "run2")
    assert summary["global_step"] == 1  # out-of-range values train as ignored pixels, no IndexError
    assert json.loads((tmp_path / "run2" / "run_info.json").read_text())["verify"] is False


def test_case10_eval_and_predict_cli_verify_and_no_verify(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    """`endods eval/predict --data` on a dataset changed after its build: a one-line error, or --no-verify."""
    import typer
    from typer.testing import CliRunner

    from cli.train import register

    app = typer.Typer()
    register(app)
    data = _tampered(tiny_dataset, tmp_path / "ds", "mask", {"bytes": _png(np.zeros((64, 80), np.uint8))}, reseal=False)
    run = Path(shutil.copytree(tiny_run[0], tmp_path / "run"))  # eval writes eval.json into RUN
    cases = {
        "eval": ["eval", str(run), "--data", str(data), "--split", "train"],
        "predict": ["predict", str(run), "--data", str(data), "--split", "train", "--limit", "2"]
        + ["--out", str(tmp_path / "pred")],
    }
    for name, args in cases.items():
        refused = CliRunner().invoke(app, args)
        assert refused.exit_code == 1, (name, refused.output)
        assert "changed after it was built" in refused.output and "Traceback" not in refused.output
        allowed = CliRunner().invoke(app, [*args, "--no-verify"])
        assert allowed.exit_code == 0, (name, allowed.output)
    assert json.loads((run / "eval.json").read_text())["verified"] is False
