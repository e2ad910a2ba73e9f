"""`endods labelstudio export|import` through Typer's CliRunner against the shared real server."""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest
import typer
from typer.testing import CliRunner

import cli.labelstudio
from endods.dataset import open_dataset

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]
runner = CliRunner()
LS_TESTS = Path(__file__).parents[1] / "endods" / "labelstudio"


def _lsserver() -> ModuleType:
    """tests/endods/labelstudio/lsserver.py as the same module object its conftest imports (one server)."""
    if str(LS_TESTS) not in sys.path:
        sys.path.insert(0, str(LS_TESTS))  # lsserver imports lsframes by name
    if "lsserver" not in sys.modules:
        spec = importlib.util.spec_from_file_location("lsserver", LS_TESTS / "lsserver.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["lsserver"] = module
        spec.loader.exec_module(module)
    return sys.modules["lsserver"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    cli.labelstudio.register(app)
    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> object:
    return _lsserver().session_server(tmp_path_factory, pytestconfig)


def test_cli_export_local_then_import_never_shows_the_key(app, server, tmp_path: Path) -> None:
    ds = _lsserver().build_tiny_dataset(tmp_path / "ds")
    env = {
        "LABEL_STUDIO_URL": server.url,
        "LABEL_STUDIO_API_KEY": server.token,
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(server.document_root),
        "COLUMNS": "200",
    }
    title = f"cli {uuid.uuid4().hex[:8]}"
    exported = runner.invoke(app, ["labelstudio", "export", str(ds), "--title", title, "--upload", "local"], env=env)
    assert exported.exit_code == 0, exported.output
    match = re.search(r"4 tasks created project (\d+): (\S+)", exported.output)
    assert match and match.group(2) == f"{server.url}/projects/{match.group(1)}/data", exported.output
    assert f"--project {match.group(1)} --base {ds}" in exported.output
    images = sorted(p.name for p in (server.document_root / "endods-review").glob("mtlendovis-*/*.png"))
    assert {"seq_1__frame001.png", "seq_2__frame005.png"} <= set(images)

    out = tmp_path / "reviewed"
    imported = runner.invoke(
        app, ["labelstudio", "import", "--project", match.group(1), "--base", str(ds), "--out", str(out)], env=env
    )
    assert imported.exit_code == 0, imported.output
    assert "0 frames changed" in imported.output  # nobody reviewed: predictions are not labels
    assert open_dataset(out).manifest.parent.version == open_dataset(ds).manifest.version
    for result in (exported, imported):
        assert server.token not in result.output and server.token not in (result.stderr or "")

    # --out exists: refused before any annotation is fetched; no empty progress bar drawn
    again = runner.invoke(
        app, ["labelstudio", "import", "--project", match.group(1), "--base", str(ds), "--out", str(out)], env=env
    )
    assert again.exit_code == 1 and "already exists; pass --overwrite" in again.output and "0/?" not in again.output
    # an unknown project id: one sentence, not the server's JSON body
    missing = runner.invoke(
        app, ["labelstudio", "import", "--project", "999999", "--base", str(ds), "--out", str(tmp_path / "m")], env=env
    )
    assert missing.exit_code == 1 and "has no project 999999" in missing.output and "{" not in missing.output

    bad = runner.invoke(app, ["labelstudio", "export", str(ds), "--upload", "ftp"], env=env)
    assert bad.exit_code == 1 and "upload must be one of files, local, got 'ftp'" in bad.output
    assert server.token not in bad.output
