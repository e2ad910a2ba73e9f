"""`endods bench efficiency`: a table, then one JSON line as the last line of stdout (and --json-out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from cli.bench import register

runner = CliRunner()


@pytest.fixture()
def app() -> typer.Typer:
    torch.set_num_threads(1)
    app = typer.Typer()
    register(app)
    return app


@pytest.mark.slow  # ~12 s on 2 idle cores, ~20 s under load: a full ablation, every variant built
def test_bench_efficiency_prints_table_and_json(app: typer.Typer, tmp_path: Path) -> None:
    out_file = tmp_path / "res" / "eff.json"
    args = "bench efficiency --preset dinov2-hps-ew --backbone-size tiny --batch 2 --image-size 28 --amp none".split()
    args += ["--warmup", "0", "--repeats", "1", "--ablate", "--json-out", str(out_file)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    data = json.loads(lines[-1])
    assert json.loads(out_file.read_text()) == data
    assert (data["preset"], data["arch"], data["weighting"], data["batch"]) == ("dinov2-hps-ew", "hps", "ew", 2)
    assert set(data["ablation"]["optimizations"]) == {"amp", "compile", "sdpa", "frozen_backbone",
                                                      "gradient_checkpointing", "channels_last", "sma"}  # fmt: skip
    assert data["ablation"]["optimizations"]["sma"]["skipped"] == "the preset has no SMA block"
    text = "\n".join(lines[:-1])
    assert "efficiency: dinov2-hps-ew (tiny) on cpu" in text
    assert "RTX 4090, different hardware" in " ".join(text.split())
    assert "channels_last" in text and "skipped" in text  # compile is skipped on CPU by default


@pytest.mark.parametrize(("flag", "value"), [("--amp", "fp8"), ("--device", "tpu"), ("--backbone-size", "huge")])
def test_bench_rejects_bad_choices(app: typer.Typer, flag: str, value: str) -> None:
    result = runner.invoke(app, ["bench", "efficiency", flag, value])
    assert result.exit_code == 2
    assert value in result.output


def test_bench_unknown_preset_is_a_clean_error(app: typer.Typer) -> None:
    result = runner.invoke(app, ["bench", "efficiency", "--preset", "nope", "--backbone-size", "tiny"])
    assert result.exit_code == 2  # a usage error: the choices come from the preset registry
    assert "Invalid value for '--preset'" in result.output and "'nope'" in result.output
