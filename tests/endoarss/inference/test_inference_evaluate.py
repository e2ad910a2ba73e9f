"""evaluate_run: reloads a RUN exactly, writes eval.json + confusion PNG, checks label-map alignment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from endoarss.errors import ConfigError
from endoarss.inference.evaluate import evaluate_run
from schemas.labelmaps import MTLENDOVIS, MTLESD


def test_eval_reproduces_the_training_time_metrics(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    run = tiny_run[0]
    last_epoch = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][-1]
    result = evaluate_run(run, tiny_dataset, "test", checkpoint="last", out=tmp_path)
    # the model rebuilt from config.yaml + checkpoint gives the very numbers seen during training
    for key in ("ac", "f1", "miou", "dice", "hd", "ssim"):
        assert result["metrics"][key] == pytest.approx(last_epoch["eval"][key], abs=1e-9), key
    assert result["mode"] == "standard" and result["frames"] == 8 and result["dataset"] == "mtlendovis"
    on_disk = json.loads((tmp_path / "eval.json").read_text())
    assert on_disk == result
    assert (tmp_path / "confusion_activity.png").stat().st_size > 1000
    matrix = result["confusion_activity"]
    assert len(matrix) == 12 and sum(map(sum, matrix)) == 8
    assert sum(matrix[i][i] for i in range(12)) / 8 == pytest.approx(result["metrics"]["ac"])
    assert list(result["per_class"]) == MTLENDOVIS.class_names
    present = [v["iou"] for v in result["per_class"].values() if v["iou"] is not None]
    assert sum(present) / len(present) == pytest.approx(result["metrics"]["miou"])


def test_compat_mode_and_default_output(tiny_run, tiny_dataset: Path) -> None:
    run = tiny_run[0]
    result = evaluate_run(run, tiny_dataset, compat=True)
    assert result["mode"] == "compat" and "ac_overall" in result["metrics"]
    assert (run / "eval.json").is_file()
    assert json.loads((run / "eval.json").read_text())["mode"] == "compat"


def test_eval_across_aligned_label_maps(tiny_run, tiny_gen_dataset: Path, tmp_path: Path) -> None:
    result = evaluate_run(tiny_run[0], tiny_gen_dataset, "test", out=tmp_path)
    assert result["dataset"] == "mtlendovis-gen" and result["frames"] == 6
    assert 0 <= result["metrics"]["miou"] <= 1


def test_eval_files_per_dataset_and_limit(tiny_run, tiny_dataset: Path, tiny_gen_dataset: Path, tmp_path: Path) -> None:
    steps: list[tuple[int, int]] = []
    first = evaluate_run(
        tiny_run[0], tiny_dataset, "test", out=tmp_path, limit=3, on_progress=lambda d, t: steps.append((d, t))
    )
    second = evaluate_run(tiny_run[0], tiny_gen_dataset, "test", out=tmp_path)
    version = json.loads((tiny_dataset / "manifest.json").read_text())["version"] or "unversioned"
    assert first["file"] == str(tmp_path / "eval" / f"mtlendovis-{version}-test.json")
    assert first["frames"] == 3 and first["limit"] == 3 and steps[-1] == (3, 3)
    assert sum(map(sum, first["confusion_activity"])) == 3
    # evaluating a second dataset keeps the first one's file; eval.json is the latest
    assert json.loads(Path(first["file"]).read_text()) == first
    assert Path(second["file"]).name.startswith("mtlendovis-gen-") and Path(second["file"]).is_file()
    assert json.loads((tmp_path / "eval.json").read_text()) == second


def test_eval_refuses_misaligned_label_maps(tiny_run, tmp_path: Path) -> None:
    esd_dir = _write_esd(tmp_path / "esd")
    with pytest.raises(ConfigError, match="not aligned.*activities"):
        evaluate_run(tiny_run[0], esd_dir, "test", out=tmp_path)


def _write_esd(out: Path) -> Path:
    """Two MTLESD-labelled frames (activities 0..2)."""
    import io

    import datasets
    import numpy as np
    from PIL import Image

    from schemas.manifest import Manifest, ToolInfo
    from schemas.records import build_features
    from tests.endoarss.conftest import seal

    def png(arr: np.ndarray, mode: str) -> dict:
        buf = io.BytesIO()
        Image.fromarray(arr, mode=mode).save(buf, format="PNG")
        return {"bytes": buf.getvalue(), "path": None}

    rows = {
        "image": [png(np.full((32, 32, 3), 90, np.uint8), "RGB")] * 2,
        "mask": [png(np.zeros((32, 32), np.uint8), "L")] * 2,
        "activity": [0, 2],
        "frame_id": ["v/0", "v/1"],
        "group": ["v", "v"],
        "source": ["esd", "esd"],
    }
    (out / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=build_features(MTLESD)).to_parquet(
        str(out / "data" / "test-00000-of-00001.parquet")
    )
    manifest = Manifest(dataset="mtlesd", tool=ToolInfo(version="t"), options={}, label_maps=MTLESD.to_dict(),
                        counts={}, frames={})  # fmt: skip
    seal(out, manifest)  # eval verifies the manifest hashes first
    return out


def test_eval_names_a_missing_data_folder_or_weights_path(tiny_run, tiny_dataset: Path, monkeypatch) -> None:
    """A mistyped --data used to be looked up on the Hub, and weights=/nonexistent rejected as a bad repo id."""
    from endoarss.data.dataset import DataError
    from endoarss.errors import CheckpointError

    def no_model(*args, **kwargs):
        raise AssertionError("the data is checked before the model is built")

    with monkeypatch.context() as patch:
        patch.setattr("endoarss.inference.evaluate.load_run", no_model)
        with pytest.raises(DataError, match=r"^mtlendovs: no such dataset folder"):
            evaluate_run(tiny_run[0], "mtlendovs")
    with pytest.raises(CheckpointError, match=r"^weights /nonexistent: no such folder"):
        evaluate_run(tiny_run[0], tiny_dataset, weights="/nonexistent")
