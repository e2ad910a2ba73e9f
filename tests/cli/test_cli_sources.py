"""`endods sources ROOT` and the summary every build prints first (README "Getting the data")."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # table cells do not wrap, so the asserted words stay whole


def test_sources_reports_each_source_and_exits_0(endovis18_source, endovis17_source, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(endovis18_source[0], root)
    shutil.copytree(endovis17_source[0], root, dirs_exist_ok=True)
    result = runner.invoke(app, ["sources", str(root)], env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.output
    assert str(root / "EndoVis-18-VQA_extended") in out and "Extended (26 answers)" in out
    assert "id table: 2018 (labels_2017.json)" in out
    # the session fixtures: 3 sequences x 6 frames, 2 datasets x 5 frames, one frame each without a label file
    assert "18 frames" in out and "18 masks, 18 frames" in out and "17 labels, 17 frames" in out
    assert "2 instrument_dataset_K (inside the archive folders)" in out and "10 frames, 10 masks" in out
    assert "9 labels" in out and "would drop 1 no_activity, 1 no_vqla_label" in out
    assert f"{len(endovis18_source[1].frames)} frames to build" in out
    assert f"{len(endovis17_source[1].frames)} frames to build" in out


def test_sources_names_what_is_missing_and_exits_1(endovis18_source, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(endovis18_source[0], root)
    shutil.rmtree(root / "isinet18")
    result = runner.invoke(app, ["sources", str(root)], env=WIDE)
    assert result.exit_code == 1
    assert "missing" in result.output and "a build would fail" in result.output
    assert "'isinet18' not found" in result.output and "--isinet18" in result.output


def test_sources_shows_the_2017_table_and_ignored_test_data(tmp_path):
    root = tmp_path / "root"
    assert runner.invoke(app, ["synth", "endovis18", str(root), "--frames", "1", "--ids", "2017"]).exit_code == 0
    (root / "endovis18/miccai_challenge_2018_test_data/seq_1/left_frames").mkdir(parents=True)
    result = runner.invoke(app, ["sources", str(root), "--dataset", "mtlendovis"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "id table: 2017 (labels_2017.json)" in result.output
    assert "not read (not a training release): miccai_challenge_2018_test_data" in result.output


def test_build_prints_the_sources_summary_first(endovis17_source, tmp_path):
    out = tmp_path / "out"
    args = ["build", "mtlendovis-gen", "--src", str(endovis17_source[0]), "--out", str(out)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert result.output.index("mtlendovis-gen sources") < result.output.index("written to")
    assert "EndoVis-17-VQA_extended_final" in result.output


def test_synth_layout_and_ids_options(tmp_path):
    result = runner.invoke(app, ["synth", "endovis17", str(tmp_path), "--frames", "1", "--layout", "original"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "endovis17/instrument_dataset_1/left_frames/frame000.png").is_file()
    assert (tmp_path / "EndoVis-17-VQLA/left_frames/seq1_frame000.png").is_file()
    bad = runner.invoke(app, ["synth", "endovis17", str(tmp_path / "x"), "--ids", "2017"], env=WIDE)
    assert bad.exit_code == 2 and "--ids" in bad.output
    bad = runner.invoke(app, ["synth", "endovis18", str(tmp_path / "y"), "--layout", "newest"], env=WIDE)
    assert bad.exit_code == 2 and "--layout" in bad.output
