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


def test_demo_keeps_a_folder_it_did_not_write(tmp_path, monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("chapter 1")
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # no traceback
    text = " ".join(result.output.split())
    assert f"{out} already exists and is not a previous `endods demo` output (no .endods-demo in it)" in text
    assert [p.name for p in out.iterdir()] == ["thesis.tex"] and (out / "thesis.tex").read_text() == "chapter 1"
    monkeypatch.chdir(out)
    result = CliRunner().invoke(app, ["demo", "--out", "."])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # no traceback
    assert f"{out.resolve()} is the current folder" in " ".join(result.output.split())
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def test_demo_replaces_its_own_previous_output(tmp_path, monkeypatch):
    from endods.errors import SourceError

    def stop(path, **kwargs):  # stop after the output folder is prepared: the rest is the slow test above
        raise SourceError(f"stopped before writing {path}")

    monkeypatch.setattr("endods.synth.synth_endovis18", stop)
    out = tmp_path / "demo"
    out.mkdir()
    (out / ".endods-demo").write_text("")
    (out / "stale.txt").write_text("from an earlier demo")
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"stopped before writing {out / 'sources'}" in " ".join(result.output.split())
    assert [p.name for p in out.iterdir()] == [".endods-demo"]  # emptied and marked again


@pytest.mark.slow
def test_demo_training_learns_above_the_untrained_model(tmp_path):
    """A short run of the demo's recipe on its synthetic sources beats the untrained model clearly."""
    from cli.demo import DEMO_TRAINING, untrained_metrics
    from endoarss.config import build_config
    from endoarss.data.dataset import open_split
    from endoarss.engine.run_folder import build_model
    from endoarss.engine.trainer import train
    from endoarss.inference.evaluate import evaluate_model
    from endods.build import BuildOptions, build_mtlendovis
    from endods.split import SplitConfig
    from endods.synth import synth_endovis18

    synth_endovis18(tmp_path / "src", sequences=3, frames=13, seed=0)
    data = tmp_path / "ds"
    build_mtlendovis(out=data, src=tmp_path / "src", options=BuildOptions(split=SplitConfig("paper", 0.2, 0)))
    before = untrained_metrics(data)
    trained = {}
    cfg = build_config("endoarss", [*DEMO_TRAINING, "epochs=8", "eval_every=0"])
    train(
        cfg, data, tmp_path / "run", on_progress=lambda e: trained.update(model=e.model) if e.kind == "done" else None
    )
    split = open_split(data, "train")  # what the model was fitted on: a broken training stack cannot fit it
    base = evaluate_model(build_model(cfg.resolved(split.dataset), split.labelmap), split, cfg.image_size, 8, 0)
    after = evaluate_model(trained["model"], split, cfg.image_size, 8, 0)
    assert before["miou_fg"] < 0.05 and base["miou_fg"] < 0.05
    assert after["miou_fg"] > base["miou_fg"] + 0.25, (base, after)
    assert after["ac"] > base["ac"] + 0.15, (base, after)
