"""`endods synth ...` commands (cli/synth.py), run through a Typer app holding only this group."""

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
    assert "1 buildable frame," in result.output and "0 frames a build must drop" in result.output
    assert "synth endovis18 frames" in result.output and "1/1" in result.output  # the progress bar
    assert (tmp_path / "isinet18/train/annotations/seq1_frame000.png").is_file()
    result = runner.invoke(_app(), ["synth", "endovis17", str(tmp_path), "--sequences", "1", "--frames", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "EndoVis-17-VQA_extended_final/left_frames/seq1_frame000.jpg").is_file()
    again = runner.invoke(_app(), ["synth", "endovis17", str(tmp_path), "--frames", "1"])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_synth_esd_writes_the_esd_layout(tmp_path):
    result = CliRunner().invoke(
        _app(), ["synth", "esd", str(tmp_path), "--sequences", "1", "--frames", "20", "--seed", "5"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "videos").iterdir()] == ["ESD_01.mp4"]
    assert (tmp_path / "phases.csv").read_text().startswith("video_id,phase,start_frame,end_frame")
    assert (tmp_path / "annotations.json").is_file()
    assert "buildable frames" in result.output and "20/20" in result.output  # rendered video frames


def test_synth_refuses_a_file_and_names_the_flag(tmp_path):
    runner = CliRunner()
    target = tmp_path / "afile"
    target.write_text("keep")
    result = runner.invoke(_app(), ["synth", "endovis18", str(target), "--frames", "1"])
    assert result.exit_code == 1 and "is a file" in result.output and "Traceback" not in result.output
    assert "0/?" not in result.output  # no empty bar before the error
    assert target.read_text() == "keep"
    assert runner.invoke(_app(), ["synth", "endovis17", str(tmp_path), "--frames", "1"]).exit_code == 0
    again = runner.invoke(_app(), ["synth", "endovis17", str(tmp_path), "--frames", "1"])
    assert again.exit_code == 1 and "pass --overwrite" in again.output
