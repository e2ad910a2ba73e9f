"""`endods report`, `endods export` and `endods build endoarss-folder` through Typer's CliRunner."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer
from typer.testing import CliRunner

import cli.build_folder
import cli.export
import cli.report
from cli.build import register as register_build
from endods.dataset import open_dataset

runner = CliRunner()


def _tiny() -> ModuleType:
    """The shared tiny dataset helper (tests/endods/report/tiny_dataset.py), loaded by path."""
    name = "endods_tests_tiny_dataset"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "endods" / "report" / "tiny_dataset.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    # A standalone app (not cli.main) so these tests do not depend on the other command groups.
    app = typer.Typer()
    register_build(app)
    for module in (cli.build_folder, cli.report, cli.export):
        module.register(app)
    return app


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "tiny"
    _tiny().build_tiny(out)
    return out


def test_report_default_and_explicit_folder(app, dataset, tmp_path):
    result = runner.invoke(app, ["report", str(dataset)])
    assert result.exit_code == 0, result.output
    default = dataset.parent / "tiny-report"
    assert (default / "report.html").is_file()
    assert "1 group on both sides" in result.output and "seq_3" in result.output
    assert "1 test frame with a near-duplicate" in result.output
    result = runner.invoke(app, ["report", str(dataset), "--out", str(tmp_path / "r"), "--max-distance", "0"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["leakage"]["max_distance"] == 0


def test_report_errors(app, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "manifest.json" in result.output and "Traceback" not in result.output


def test_negative_counts_are_usage_errors(app, dataset, tmp_path):
    wide = {"COLUMNS": "200"}  # the usage-error box does not wrap the option name
    args = ["report", str(dataset), "--out", str(tmp_path / "r"), "--overlays", "-1"]
    result = runner.invoke(app, args, env=wide)
    assert result.exit_code == 2 and "--overlays" in result.output and not (tmp_path / "r").exists()
    args = ["build", "mtlendovis", "--src", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--workers", "0"]
    result = runner.invoke(app, args, env=wide)
    assert result.exit_code == 2 and "--workers" in result.output


def test_export_endoarss_then_import(app, dataset, tmp_path):
    dest = tmp_path / "released"
    result = runner.invoke(app, ["export", str(dataset), str(dest), "--format", "endoarss", "--val-name", "val"])
    assert result.exit_code == 0, result.output
    assert "80 (1)" in result.output and "written as background" in result.output
    assert (dest / "val" / "1" / "mask" / "seq4_frame000.png").is_file()
    again = runner.invoke(app, ["export", str(dataset), str(dest), "--format", "endoarss"])
    assert again.exit_code == 1 and "already exists" in again.output
    out = tmp_path / "imported"
    result = runner.invoke(
        app, ["build", "endoarss-folder", "--src", str(dest), "--out", str(out), "--dataset", "mtlendovis"]
    )
    assert result.exit_code == 0, result.output
    ds = open_dataset(out)
    assert {s: ds.num_rows(s) for s in ds.splits} == {"train": 5, "test": 3}
    assert "total" in result.output


def test_export_coco_one_split(app, dataset, tmp_path):
    result = runner.invoke(
        app, ["export", str(dataset), str(tmp_path / "c"), "--format", "coco", "--only-split", "test"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "c" / "annotations" / "instances_test.json").read_text())
    assert len(data["images"]) == 3
    assert not (tmp_path / "c" / "annotations" / "instances_train.json").exists()


def test_export_bad_options(app, dataset, tmp_path):
    result = runner.invoke(app, ["export", str(dataset), str(tmp_path / "x"), "--format", "yolo"])
    assert result.exit_code == 2 and "yolo" in result.output
    result = runner.invoke(
        app, ["export", str(dataset), str(tmp_path / "x"), "--format", "coco", "--only-split", "val"]
    )
    assert result.exit_code == 1 and "no split 'val'" in result.output


def test_import_bad_folder(app, tmp_path):
    bad = tmp_path / "bad" / "train" / "surgery" / "image"
    bad.mkdir(parents=True)
    result = runner.invoke(
        app,
        [
            "build",
            "endoarss-folder",
            "--src",
            str(tmp_path / "bad"),
            "--out",
            str(tmp_path / "o"),
            "--dataset",
            "mtlendovis",
        ],
    )
    assert result.exit_code == 1 and "activity folder 'surgery'" in result.output
    result = runner.invoke(
        app,
        ["build", "endoarss-folder", "--src", str(tmp_path / "bad"), "--out", str(tmp_path / "o"), "--dataset", "x"],
    )
    assert result.exit_code == 2
    args = ["build", "endoarss-folder", "--src", str(tmp_path / "bad"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--dataset", "mtlendovis", "--class-names", "knife,clip"])
    assert result.exit_code == 1 and "mtlesd only" in result.output
    result = runner.invoke(app, [*args, "--dataset", "mtlesd", "--class-names", "knife,clip"])
    assert result.exit_code == 1 and "6 distinct, non-empty class names" in result.output
