"""`endods demo` end to end: the README's first command must keep working."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from endods.dataset import open_dataset
from endods.validate import validate_dataset


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    dataset = out / "mtlendovis"
    assert validate_dataset(dataset) == []
    assert (out / "report" / "report.html").is_file()
    metrics = json.loads((out / "run" / "eval.json").read_text())["metrics"]
    assert 0.0 <= metrics["miou"] <= 1.0 and 0.0 <= metrics["ac"] <= 1.0
    test_ids = {r.frame_id for r in open_dataset(dataset).records("test")}
    with open(out / "predictions" / "activities.csv", newline="") as f:
        assert {row["frame"] for row in csv.DictReader(f)} == test_ids
    assert len(list((out / "predictions" / "masks").glob("*.png"))) == len(test_ids)
    assert "review in Label Studio" in result.output
