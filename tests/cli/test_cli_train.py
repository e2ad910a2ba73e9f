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
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--compat", "--limit", "2"])
    assert result.exit_code == 0 and "[test] - compat metrics" in _text(
        result.output
    )  # split shown, not eaten as markup
    version = json.loads((data / "manifest.json").read_text())["version"] or "unversioned"
    written = run / "eval" / f"mtlendovis-{version}-test-compat.json"
    assert json.loads(written.read_text())["frames"] == 2 and "2/2" in result.output
    assert f"writtento{written}" in "".join(_text(result.output).split())
    assert json.loads((run / "eval.json").read_text()) == json.loads(written.read_text())
    assert (run / "eval" / f"mtlendovis-{version}-test.json").is_file()  # the --json run's file is kept

    image, _ = make_frame(np.random.default_rng(0), 3, 2, (48, 66))
    Image.fromarray(image).save(tmp_path / "frame1.png")
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "frame1.png"), "--out", str(tmp_path / "P")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "P" / "masks" / "frame1.png").size == (66, 48)
    rows = list(csv.reader((tmp_path / "P" / "activities.csv").open()))
    assert rows[0][:2] == ["frame", "activity"] and rows[1][0] == "frame1"
    # a new prediction into P replaces it: frame1's files do not linger beside frame2's
    Image.fromarray(image).save(tmp_path / "frame2.png")
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "frame2.png"), "--out", str(tmp_path / "P")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "P" / "masks").iterdir()) == ["frame2.png"]
    assert [r[0] for r in csv.reader((tmp_path / "P" / "activities.csv").open())] == ["frame", "frame2"]
    # a folder that is not a prediction output is never replaced (issue 16 case 4)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    args = ["predict", str(run), str(tmp_path / "frame2.png"), "--out", str(tmp_path / "mine")]
    for extra in ([], ["--overwrite"]):
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "is not a previous `endods predict` output" in _text(result.output)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"

    # --data: frames of the built dataset, named by frame id, ready for `labelstudio export --predictions`
    result = runner.invoke(
        app, ["predict", str(run), "--data", str(data), "--limit", "3", "--out", str(tmp_path / "D")]
    )
    assert result.exit_code == 0, result.output
    assert f"labelstudio export {data} --split test --predictions" in _text(result.output)
    stems = [f"seq_test__frame{i:03d}.png" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "D" / "masks").iterdir()) == stems
    assert Image.open(tmp_path / "D" / "masks" / stems[0]).size == (80, 64)  # stored resolution (W, H)
    rows = list(csv.reader((tmp_path / "D" / "activities.csv").open()))
    assert [r[0] for r in rows[1:]] == [f"seq_test/frame{i:03d}" for i in range(3)]
    result = runner.invoke(
        app, ["predict", str(run), "--data", str(data), "--split", "train", "--out", str(tmp_path / "T")]
    )
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "T" / "activities.csv").read_text().splitlines()) == 1 + 8


def test_predict_images_or_data(app: typer.Typer, data: Path, tmp_path: Path) -> None:
    """Exactly one of IMAGES / --data; usage errors come before any model or data is loaded."""
    image = tmp_path / "f.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    run, out = str(tmp_path), str(tmp_path / "P")
    cases = [
        (["predict", run, "--out", out], "give IMAGES or --data OUT (one of them is required)"),
        (["predict", run, str(image), "--data", str(data), "--out", out], "give IMAGES or --data OUT (not both)"),
        (["predict", run, str(image), "--limit", "2", "--out", out], "--split and --limit need --data"),
        (["predict", run, str(image), "--split", "test", "--out", out], "--split and --limit need --data"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in _text(result.output), result.output
    assert not (tmp_path / "P").exists()
    result = runner.invoke(app, ["predict", run, "--data", str(data), "--out", out])
    assert result.exit_code == 1 and "not a RUN folder" in _text(result.output)


def _no_hub(monkeypatch) -> list:
    import datasets
    import huggingface_hub

    calls: list = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the Hub must not be asked")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    return calls


def test_train_out_and_resume_mistakes(app: typer.Typer, data: Path, tmp_path: Path) -> None:
    base = ["train", "--data", str(data), *TINY_OVERRIDES]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "nores"), "--resume"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"nothing to resume in {tmp_path / 'nores'}: no checkpoints/last; drop --resume" in _text(result.output)
    assert not (tmp_path / "nores").exists()
    (tmp_path / "F").write_text("x")
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "F")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{tmp_path / 'F'} exists and is not a folder; choose another --out" in _text(result.output)
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "R"), "preset=seg-only"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "preset='seg-only' is not an override; choose a preset with --preset seg-only" in _text(result.output)
    assert not (tmp_path / "R").exists()


def test_data_and_out_mistakes_are_named(app: typer.Typer, tmp_path: Path, monkeypatch) -> None:
    """Nothing here needs a trained RUN: the data/--out checks come before the model is loaded."""
    calls = _no_hub(monkeypatch)
    for source in ("mtlendovs", "./nosuch"):
        result = runner.invoke(app, ["eval", str(tmp_path), "--data", source])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"{source}: no such dataset folder" in _text(result.output)
        result = runner.invoke(app, ["train", "--data", source, "--out", str(tmp_path / "R"), *TINY_OVERRIDES])
        assert result.exit_code == 1 and f"{source}: no such dataset folder" in _text(result.output)
        result = runner.invoke(app, ["predict", str(tmp_path), "--data", source, "--out", str(tmp_path / "P")])
        assert result.exit_code == 1 and f"{source}: no such dataset folder" in _text(result.output)
    assert calls == [] and not (tmp_path / "R").exists() and not (tmp_path / "P").exists()
    image = tmp_path / "f.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    result = runner.invoke(app, ["predict", str(tmp_path), str(image), "--out", str(image)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{image} is the input {image}" in _text(result.output)
