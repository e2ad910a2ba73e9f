"""Issue 16 stress test: two builds, two exports and two Label Studio imports race for one --out each.

Each pair runs as two real `endods` processes, released at the same instant (both wait on a start
file after their imports), so they really overlap. Exactly one of each pair succeeds; the other
exits 1 with the lock message, and the winner's output is whole (nothing lost, nothing left beside it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from cli.main import app
from endods.dataset import open_dataset
from schemas.dataset import check_outputs_unchanged

ROOT = Path(__file__).resolve().parents[2]
LOCK_MESSAGE = "another command is writing to"
# Import everything first, announce readiness, then wait for the common start signal.
RUNNER = """
import sys, time, pathlib
from cli.main import app
ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.002)
sys.argv = ["endods", *sys.argv[3:]]
app()
"""


def _race(tmp_path: Path, args: list[str], env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess]:
    tag = uuid.uuid4().hex[:6]
    go = tmp_path / f"go-{tag}"
    readies = [tmp_path / f"ready-{tag}-{i}" for i in range(2)]
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(ready), str(go), *args],
            cwd=tmp_path,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in readies) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    for path in (go, *readies):
        path.unlink()
    return results


def _one_wins(results: list[subprocess.CompletedProcess], out: Path) -> None:
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 1], [(r.returncode, r.stdout[-500:], r.stderr[-800:]) for r in results]
    loser = next(r for r in results if r.returncode == 1)
    text = " ".join((loser.stdout + loser.stderr).split())
    assert LOCK_MESSAGE in text and str(out) in text and "Traceback" not in text, text
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert leftovers == [], leftovers  # no staging folder, no lock file


@pytest.mark.slow
def test_two_builds_and_two_exports_to_one_out(tmp_path: Path, endovis18_source, built_mtlendovis: Path) -> None:
    src = endovis18_source[0]
    out = tmp_path / "ds"
    _one_wins(_race(tmp_path, ["build", "mtlendovis", "--src", str(src), "--out", str(out)]), out)
    check_outputs_unchanged(out)  # the winner's dataset is whole: every hashed file as the manifest says
    assert sum(open_dataset(out).num_rows(s) for s in open_dataset(out).splits) > 0

    dest = tmp_path / "exp"
    _one_wins(_race(tmp_path, ["export", str(built_mtlendovis), str(dest), "--format", "endoarss"]), dest)
    frames = sum(open_dataset(built_mtlendovis).num_rows(s) for s in open_dataset(built_mtlendovis).splits)
    assert len(list(dest.glob("*/*/image/*.png"))) == frames and (dest / "export_summary.json").is_file()


def _lsserver() -> ModuleType:
    tests = ROOT / "tests" / "endods" / "labelstudio"
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))  # lsserver imports lsframes by name
    if "lsserver" not in sys.modules:
        spec = importlib.util.spec_from_file_location("lsserver", tests / "lsserver.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["lsserver"] = module
        spec.loader.exec_module(module)
    return sys.modules["lsserver"]


@pytest.mark.slow
@pytest.mark.labelstudio
def test_two_labelstudio_imports_to_one_out(
    tmp_path: Path, built_mtlendovis: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> None:
    server = _lsserver().session_server(tmp_path_factory, pytestconfig)
    env = {
        "LABEL_STUDIO_URL": server.url,
        "LABEL_STUDIO_API_KEY": server.token,
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(server.document_root),
    }
    title = f"race {uuid.uuid4().hex[:8]}"
    args = ["labelstudio", "export", str(built_mtlendovis), "--title", title, "--upload", "local"]
    exported = CliRunner().invoke(app, args, env={**env, "COLUMNS": "200"})
    assert exported.exit_code == 0, exported.output
    project = re.search(r"created project (\d+)", exported.output)
    assert project, exported.output
    out = tmp_path / "reviewed"
    args = ["labelstudio", "import", "--project", project.group(1), "--base", str(built_mtlendovis), "--out", str(out)]
    _one_wins(_race(tmp_path, args, env), out)
    check_outputs_unchanged(out)
    assert open_dataset(out).manifest.parent.version == open_dataset(built_mtlendovis).manifest.version
