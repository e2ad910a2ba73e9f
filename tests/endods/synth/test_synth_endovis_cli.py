"""`endods synth ...` commands (cli/synth.py), run through a Typer app holding only this group."""

import sys
import types

import typer
from typer.testing import CliRunner

from cli import synth as synth_cli


def _app() -> typer.Typer:
    app = typer.Typer()
    synth_cli.register(app)

    @app.callback()
    def _root() -> None:  # keeps `synth` a sub-command even with a single group
        pass

    return app


def test_synth_endovis18_and_17_write_trees(tmp_path):
    runner = CliRunner()
    result = runner.invoke(_app(), ["synth", "endovis18", str(tmp_path), "--sequences", "1", "--frames", "1"])
    assert result.exit_code == 0, result.output
    assert "1 buildable frames" in result.output and "0 frames a build must drop" in result.output
    assert (tmp_path / "isinet18/train/annotations/seq1_frame000.png").is_file()
    result = runner.invoke(_app(), ["synth", "endovis17", str(tmp_path), "--sequences", "1", "--frames", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "EndoVis-17-VQLA/left_frames/seq1_frame000.png").is_file()
    again = runner.invoke(_app(), ["synth", "endovis17", str(tmp_path), "--frames", "1"])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_synth_esd_delegates_to_the_esd_generator(tmp_path, monkeypatch):
    calls = []

    def fake_synth_esd(dest, videos=2, seed=0, frames=10):
        calls.append((dest, videos, seed, frames))
        return types.SimpleNamespace(frames={"ESD_01/000000": {}}, dropped={}, files=3)

    monkeypatch.setitem(sys.modules, "endods.synth.esd", types.SimpleNamespace(synth_esd=fake_synth_esd))
    result = CliRunner().invoke(_app(), ["synth", "esd", str(tmp_path), "--sequences", "3", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path, 3, 5, 10)]  # --frames not given: the generator's own default
    assert "1 buildable frames" in result.output
