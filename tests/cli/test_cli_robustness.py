"""`endods robustness` end to end: a freshly trained tiny model under all 19 corruptions x 5 severities."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from cli.robustness import register
from endoarss.robustness import CORRUPTIONS
from tests.endoarss.conftest import TINY_OVERRIDES, write_dataset

runner = CliRunner(env={"COLUMNS": "160"})  # the summary table has 9 columns
FRACTIONS = ("ac", "f1", "miou", "miou_fg", "dice", "dice_fg")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep `robustness` a subcommand, as in `endods`
    register(app)
    return app


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(RUN, dataset): one epoch of the endoarss preset with the tiny DINOv2 at a 42x42 input."""
    from endoarss.config import build_config
    from endoarss.engine.trainer import train

    os.environ.setdefault("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-cache")))
    torch.set_num_threads(1)
    data = write_dataset(tmp_path_factory.mktemp("robust-data") / "OUT", n_train=8, n_test=4)
    run = tmp_path_factory.mktemp("robust-runs") / "RUN"
    train(build_config("endoarss", [*TINY_OVERRIDES, "epochs=1", "image_size=42"]), data, run)
    return run, data


def _text(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


@pytest.mark.slow
def test_all_corruptions_and_severities(app: typer.Typer, trained: tuple[Path, Path]) -> None:
    run, data = trained
    result = runner.invoke(app, ["robustness", str(run), "--data", str(data), "--limit", "2", "--workers", "0"])
    assert result.exit_code == 0, result.output
    out = run / "robustness"
    text = _text(result.output)
    assert "family means per severity" in text and "standard" in text and str(out / "robustness.md") in text
    for family in ("noise", "blur", "occlusion", "digital", "all"):
        assert f" {family} " in text

    with (out / "robustness.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 1 + 19 * 5
    assert (rows[0]["corruption"], rows[0]["severity"]) == ("clean", "0")
    assert [(r["corruption"], int(r["severity"])) for r in rows[1:]] == [
        (n, s) for n in CORRUPTIONS for s in range(1, 6)
    ]
    assert all(r["family"] == CORRUPTIONS[r["corruption"]] for r in rows[1:])
    for row in rows:
        for metric in (*FRACTIONS, "ssim"):
            value = float(row[metric])
            assert math.isfinite(value) and (0 <= value <= 1 or metric == "ssim" and -1 <= value <= 1), (row, metric)
        assert row["hd"] == "" or float(row["hd"]) >= 0

    summary = json.loads((out / "robustness.json").read_text())
    assert summary["frames"] == 2 and summary["mode"] == "standard" and summary["at"] == "input"
    assert summary["image_size"] == [42, 42] and len(summary["rows"]) == 95
    miou = summary["summary"]["miou"]
    assert set(miou["families"]) == {"noise", "blur", "occlusion", "digital"}
    assert miou["overall"]["mean"] == pytest.approx(sum(float(r["miou"]) for r in rows[1:]) / 95)
    assert miou["clean"] == pytest.approx(float(rows[0]["miou"]))
    md = (out / "robustness.md").read_text()
    assert "Metric mode: **standard**" in md and "| **mean** |" in md and md.count("| occlusion | smoke |") == 6

    for metric in ("ac", "f1", "miou", "dice", "hd", "ssim"):
        for kind in ("severity", "corruptions"):
            _check_png(out / f"{kind}_{metric}.png", min_size=(400, 250))
    width, height = _check_png(out / "gallery.png", min_size=(400, 1500))
    assert height > 3 * width  # 19 rows x 4 columns


def _check_png(path: Path, min_size: tuple[int, int]) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert width >= min_size[0] and height >= min_size[1], (path.name, image.size)
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10  # not blank
    return width, height


def test_bad_options_are_clean_errors(app: typer.Typer, trained: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = trained
    base = ["robustness", str(run), "--data", str(data), "--out", str(tmp_path / "R")]
    for extra, message in (
        (["--severities", "0-3"], "severities must lie in 1..5"),
        (["--severities", "3-1"], "severities range '3-1' is reversed: write 1-3"),
        (["--corruptions", "fog"], "unknown corruption"),
        (["--at", "output"], "'output' is not one of 'input', 'native'"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2 and message in _text(result.output), result.output
        assert "--corruptions/--severities" not in _text(result.output)  # names only the wrong option
    result = runner.invoke(app, [*base, "--split", "validation"])
    assert result.exit_code == 1 and "error:" in result.output and "validation" in result.output
    assert not (tmp_path / "R").exists()


def test_subset_at_native_resolution(app: typer.Typer, trained: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = trained
    args = ["robustness", str(run), "--data", str(data), "--out", str(tmp_path / "R"), "--limit", "1"]
    args += ["--corruptions", "smoke,gamma", "--severities", "1,3", "--at", "native", "--compat", "--workers", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with (tmp_path / "R" / "robustness.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    expected = [("clean", "0"), ("smoke", "1"), ("smoke", "3"), ("gamma", "1"), ("gamma", "3")]
    assert [(r["corruption"], r["severity"]) for r in rows] == expected
    assert "ac_overall" in rows[0]  # compat metrics
    assert "compat" in _text(result.output) and " native " in _text(result.output)


QUICK = ["--limit", "1", "--corruptions", "gamma", "--severities", "1", "--workers", "0"]


def test_existing_out_is_kept_unless_ours_or_overwrite(
    app: typer.Typer, trained: tuple[Path, Path], tmp_path: Path
) -> None:
    run, data = trained
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    base = ["robustness", str(run), "--data", str(data), *QUICK]
    dataset_files = sorted(p.name for p in data.iterdir())
    for out, extra, message in (
        (mine, [], f"{mine} already exists and is not a previous `endods robustness` output"),
        (mine, ["--overwrite"], "it is never replaced, even with --overwrite"),  # issue 16 case 4
        (data, [], f"{data} is the input {data}; writing there would replace it"),
        (data, ["--overwrite"], "choose another path"),  # never the dataset being evaluated
    ):
        result = runner.invoke(app, [*base, "--out", str(out), *extra])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # no traceback
        assert message in _text(result.output)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in data.iterdir()) == dataset_files and (data / "manifest.json").is_file()
    assert not list(tmp_path.glob(".mine.*"))  # refused before any work: no staging folder

    (mine / "notes.txt").unlink()  # an empty folder holds nothing to lose
    result = runner.invoke(app, [*base, "--out", str(mine)])
    assert result.exit_code == 0, result.output
    assert (mine / "robustness.json").is_file()
    # a previous robustness output is replaced without --overwrite
    (mine / "robustness.csv").write_text("stale")
    result = runner.invoke(app, [*base, "--out", str(mine), "--severities", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((mine / "robustness.json").read_text())["severities"] == [2]
    assert (mine / "robustness.csv").read_text() != "stale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temp folders left


def test_out_dot_is_refused_without_traceback(
    app: typer.Typer, trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, data = trained
    (tmp_path / "thesis.tex").write_text("chapter 1")
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--overwrite"]):
        result = runner.invoke(app, ["robustness", str(run), "--data", str(data), *QUICK, "--out", ".", *extra])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # no traceback
        assert f"{tmp_path.resolve()} is the current folder" in _text(result.output)
        assert "choose another path" in _text(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]
