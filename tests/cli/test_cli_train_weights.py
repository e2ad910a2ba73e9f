"""`endods train` without weights=: resolves the preset's Hub checkpoint (fake cache, offline), pins it, warns on random."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from cli.train import register
from tests.endoarss.conftest import TINY_OVERRIDES, write_dataset
from tests.endoarss.models.test_models_weights import SHA, fake_hub_cache

runner = CliRunner()
# The tiny overrides without the two that pick a random tiny backbone: the preset's default applies.
PRETRAINED = [o for o in TINY_OVERRIDES if o not in ("weights=random", "backbone_size=tiny")] + ["max_steps=1"]


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf" / "hub"


def test_offline_without_cache_fails_before_any_data_work(app: typer.Typer, offline_hub: Path, tmp_path: Path) -> None:
    missing_data = tmp_path / "nosuch"  # would be a data error if the data were looked at first
    result = runner.invoke(app, ["train", "--data", str(missing_data), "--out", str(tmp_path / "R"), *PRETRAINED])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "facebook/dinov2-base" in text and "weights=random" in text and "hf download" in text
    assert "nosuch" not in text and not (tmp_path / "R").exists()


def test_fake_cache_is_loaded_and_its_revision_recorded(app: typer.Typer, offline_hub: Path, tmp_path: Path) -> None:
    fake_hub_cache(offline_hub, "facebook/dinov2-base")
    data, run = write_dataset(tmp_path / "data", n_train=8, n_test=4), tmp_path / "R"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(run), *PRETRAINED])
    assert result.exit_code == 0, result.output
    assert f"backbone weights: facebook/dinov2-base (revision {SHA})" in " ".join(result.output.split())
    assert yaml.safe_load((run / "config.yaml").read_text())["weights"] == f"facebook/dinov2-base@{SHA}"
    info = json.loads((run / "run_info.json").read_text())["backbone_weights"]
    assert (info["source"], info["revision"], info["warning"]) == ("hub", SHA, None)
    eval_result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--json"])
    assert eval_result.exit_code == 0, eval_result.output


def test_random_backbone_warns_in_the_cli_and_run_info(app: typer.Typer, tmp_path: Path) -> None:
    data, run = write_dataset(tmp_path / "data", n_train=8, n_test=4), tmp_path / "R"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(run), *TINY_OVERRIDES, "max_steps=1"])
    assert result.exit_code == 0, result.output
    assert "random initialisation" in result.output and "warning" in result.output
    info = json.loads((run / "run_info.json").read_text())["backbone_weights"]
    assert info["source"] == "random" and "randomly initialised" in info["warning"]
