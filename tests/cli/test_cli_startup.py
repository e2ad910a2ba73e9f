"""What the CLI imports: nothing heavy for --help or a usage error, and no torch for the dataset side.

Each check runs the real entry point (`cli.main:main`) in a fresh interpreter, because an import
made by an earlier test would hide one the command makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli.extras import install_hint
from cli.main import HELP_PANELS, app
from endods import __version__
from endods.synth import synth_endovis18

ROOT = Path(__file__).resolve().parents[2]
# Each costs from 0.1 s (cv2) to 2.5 s (matplotlib) at startup; a command imports them when it runs.
HEAVY = (
    "matplotlib",
    "torch",
    "datasets",
    "pyarrow",
    "cv2",
    "transformers",
    "accelerate",
    "label_studio_sdk",
    "huggingface_hub",
    "pycocotools",
    "scipy",
    "skimage",
    "PIL",
)
MODEL_SIDE = ("torch", "transformers", "accelerate", "imagecorruptions")

# Runs each argv (a JSON list of lists) through cli.main:main, then prints the heavy modules loaded.
# `sys.modules[name] = None` makes `import name` fail as if it were not installed.
RUNNER = """
import json, sys
argvs, watch, blocked = (json.loads(a) for a in sys.argv[1:4])
for name in blocked:
    sys.modules[name] = None
from cli.main import main
codes = []
for argv in argvs:
    sys.argv[1:] = argv
    try:
        main()
    except SystemExit as exc:
        codes.append(exc.code or 0)
loaded = sorted(m for m in watch if sys.modules.get(m) is not None)
print("RESULT " + json.dumps({"codes": codes, "loaded": loaded}))
"""


def _run(argvs: list[list[str]], watch=HEAVY, blocked=()) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    args = [json.dumps(argvs), json.dumps(list(watch)), json.dumps(list(blocked))]
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout + done.stderr
    return json.loads(lines[-1][len("RESULT ") :]), done.stdout + done.stderr


def test_help_imports_nothing_heavy_and_lists_the_workflow_in_panels() -> None:
    result, output = _run([["--help"]])
    assert result == {"codes": [0], "loaded": []}
    titles = [t for t in HELP_PANELS if f"─ {t} " in output]
    assert titles == ["Sources", "Datasets", "Review & publish", "Models", "Benchmarks"]
    rows = [output.index(f"│ {name} ") for name in ("synth", "build", "validate", "report", "labelstudio", "train")]
    assert rows == sorted(rows)
    assert "<bool>" not in output
    assert "--version" in output


@pytest.mark.parametrize(
    "argv",
    [["report"], ["build", "mtlendovis", "--no-such-option"], ["export", "x", "y"], ["nonsense"]],
    ids=["missing-argument", "unknown-option", "missing-option", "unknown-command"],
)
def test_usage_errors_import_nothing_heavy(argv: list[str]) -> None:
    result, output = _run([argv])
    assert result == {"codes": [2], "loaded": []}, output
    assert "Traceback" not in output


def test_version() -> None:
    result, output = _run([["--version"]])
    assert result == {"codes": [0], "loaded": []}
    assert f"endods {__version__}" in output


def test_flags_show_no_bool_type() -> None:
    result, output = _run([["build", "mtlendovis", "--help"], ["publish", "--help"]])
    assert result["codes"] == [0, 0]
    assert "--dry-run" in output and "--strict" in output
    assert "<bool>" not in output


def test_every_command_has_a_help_panel() -> None:
    group = typer.main.get_command(app)
    names = group.list_commands(typer.Context(group))
    listed = {name for names in HELP_PANELS.values() for name in names}
    assert set(names) <= listed, f"add {sorted(set(names) - listed)} to cli.main.HELP_PANELS"


def test_dataset_side_runs_without_torch(tmp_path: Path) -> None:
    """build, validate, report, export and publish --dry-run with the model side not installed."""
    src, out = tmp_path / "src", tmp_path / "ds"
    synth_endovis18(src, sequences=2, frames=3, seed=0)
    argvs = [
        ["build", "mtlendovis", "--src", str(src), "--out", str(out)],
        ["validate", str(out)],
        ["report", str(out), "--out", str(tmp_path / "report")],
        ["export", str(out), str(tmp_path / "coco"), "--format", "coco"],
        ["export", str(out), str(tmp_path / "release"), "--format", "endoarss"],
        ["publish", str(out), "--repo-id", "org/name", "--dry-run"],
    ]
    result, output = _run(argvs, watch=MODEL_SIDE, blocked=MODEL_SIDE)
    assert result == {"codes": [0] * len(argvs), "loaded": []}, output
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "coco").is_dir() and (tmp_path / "release" / "train").is_dir()
    assert "dry run: nothing was uploaded" in output


def test_model_command_without_its_extra_names_the_extra(built_mtlendovis: Path, tmp_path: Path) -> None:
    argv = ["train", "--data", str(built_mtlendovis), "--out", str(tmp_path / "run"), "epochs=1"]
    result, output = _run([argv], watch=MODEL_SIDE, blocked=MODEL_SIDE)
    assert result["codes"] == [1]
    assert "pip install 'endods[train]'" in output
    assert "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_install_hints() -> None:
    assert install_hint("torch.nn") == "pip install 'endods[train]'"
    assert install_hint("skimage") == "pip install 'endods[train]'"
    assert install_hint("imagecorruptions") == (
        "pip install 'endods[robustness]' && pip install --no-deps imagecorruptions==1.1.2"
    )
    assert install_hint("numpy") is None
