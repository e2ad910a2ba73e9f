"""`endods train / eval / predict` end to end on a tiny synthetic dataset."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from cli.train import register
from tests.endoarss.conftest import TINY_OVERRIDES, make_frame, write_dataset

runner = CliRunner()


def _text(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-cache")))
    torch.set_num_threads(1)  # 2 threads on a shared 2-core box oversubscribe and crawl
    return write_dataset(tmp_path_factory.mktemp("cli-data") / "OUT", n_train=8, n_test=4)


def test_list_presets(app: typer.Typer) -> None:
    result = runner.invoke(app, ["train", "--list-presets"])
    assert result.exit_code == 0, result.output
    text = _text(result.output)
    assert "endoarss-stch" in text and "resnet101-dselect_k-moco" in text and "seg-only" in text


def test_bad_override_is_a_clean_error(app: typer.Typer, data: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "R"), "learning_rate=1"])
    assert result.exit_code == 1
    assert "unknown config key 'learning_rate'" in _text(result.output) and "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "R")])
    assert result.exit_code == 1 and "error:" in result.output


def test_train_eval_predict(app: typer.Typer, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "RUN"
    args = ["train", "--data", str(data), "--preset", "endoarss-ew", "--out", str(run), *TINY_OVERRIDES, "epochs=1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints" / "last" / "model.safetensors").is_file()
    assert "done" in result.output and "2 steps" in result.output
    # a second train into the same RUN needs --resume; with it, epochs may grow
    assert runner.invoke(app, args).exit_code == 1
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(run), "--resume", "epochs=2"])
    assert result.exit_code == 0, result.output
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [2, 4]

    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["frames"] == 4 and payload["mode"] == "standard" and "miou" in payload["metrics"]
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--compat"])
    assert result.exit_code == 0 and "compat metrics" in _text(result.output)

    image, _ = make_frame(np.random.default_rng(0), 3, 2, (48, 66))
    Image.fromarray(image).save(tmp_path / "frame1.png")
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "frame1.png"), "--out", str(tmp_path / "P")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "P" / "masks" / "frame1.png").size == (66, 48)
    rows = list(csv.reader((tmp_path / "P" / "activities.csv").open()))
    assert rows[0][:2] == ["frame", "activity"] and rows[1][0] == "frame1"
