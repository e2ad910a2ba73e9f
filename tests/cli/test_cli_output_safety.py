"""Issue 16 through the real CLI: never lose a user's data (cases 1-5, 15, 17), no traceback (case 11)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from schemas.outputs import output_lock

runner = CliRunner()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(result, *needles: str) -> None:
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # no traceback
    for needle in needles:
        assert needle in text, (needle, text)


def _build(src: Path, out: Path | str, *extra: str):
    return runner.invoke(app, ["build", "mtlendovis", "--src", str(src), "--out", str(out), *extra])


def test_case1_build_into_its_sources_or_their_ancestor_is_refused(tmp_path: Path, endovis18_copy) -> None:
    """Case 1: `--out src --overwrite` and `--out <ancestor of src> --overwrite` used to delete the sources."""
    src, _ = endovis18_copy
    before = _tree(src)
    _refused(_build(src, src, "--overwrite"), f"{src} is the input {src}")
    _refused(_build(src, tmp_path, "--overwrite"), f"{tmp_path} holds the input {src}")
    assert _tree(src) == before


def test_case2_case15_build_into_the_current_folder_or_a_mount_is_refused(
    tmp_path: Path, endovis18_source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases 2 and 15: `--out "$PWD"`, `--out .` and a mount point are refused before anything is built."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.tex").write_text("chapter 1")
    monkeypatch.chdir(work)
    for out in (".", str(work)):
        _refused(_build(endovis18_source[0], out, "--overwrite"), f"{work} is the current folder")
    mount = next(Path(p) for p in ("/proc", "/sys", "/dev") if os.path.ismount(p))
    _refused(_build(endovis18_source[0], mount, "--overwrite"), f"{mount} is a mount point")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"] and _tree(work) == {"thesis.tex": b"chapter 1"}


def test_case3_export_onto_its_dataset_or_the_current_folder_is_refused(
    tmp_path: Path, built_mtlendovis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 3: `export ds ds --overwrite` and `export ds "$PWD" --overwrite` used to replace the dataset/cwd."""
    before = _tree(built_mtlendovis)
    for dest in (built_mtlendovis, built_mtlendovis / "exp"):
        result = runner.invoke(app, ["export", str(built_mtlendovis), str(dest), "--format", "coco", "--overwrite"])
        _refused(result, str(built_mtlendovis))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thesis.tex").write_text("chapter 1")
    result = runner.invoke(app, ["export", str(built_mtlendovis), str(tmp_path), "--format", "coco", "--overwrite"])
    _refused(result, f"{tmp_path} is the current folder")
    assert _tree(built_mtlendovis) == before and _tree(tmp_path) == {"thesis.tex": b"chapter 1"}


def test_case4_overwrite_never_replaces_a_foreign_folder(tmp_path: Path, endovis18_source, built_mtlendovis) -> None:
    """Case 4: --overwrite on a folder holding thesis.tex used to wipe it (build, export, report)."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("chapter 1")
    ds = str(built_mtlendovis)
    for args in (
        ["build", "mtlendovis", "--src", str(endovis18_source[0]), "--out", str(mine), "--overwrite"],
        ["export", ds, str(mine), "--format", "endoarss", "--overwrite"],
        ["report", ds, "--out", str(mine)],
    ):
        _refused(runner.invoke(app, args), f"{mine} already exists and is not a previous", "even with --overwrite")
    assert _tree(mine) == {"thesis.tex": b"chapter 1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folders, no lock files


def test_case5_a_second_writer_fails_on_the_lock_and_leaves_nothing(
    tmp_path: Path, endovis18_source, built_mtlendovis
) -> None:
    """Case 5: while another process writes --out, build and export exit 1 with the lock message."""
    out = tmp_path / "ds"
    with output_lock(out):  # stands for the first, still running, command
        _refused(_build(endovis18_source[0], out), "another command is writing to", str(out))
        result = runner.invoke(app, ["export", str(built_mtlendovis), str(out), "--format", "coco"])
        _refused(result, "another command is writing to")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the losers left nothing, the lock is gone


def test_case17_train_out_inside_the_dataset_is_refused(tmp_path: Path) -> None:
    """Case 17: `train --out ds/run` used to write a run folder into the dataset (making it dirty)."""
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "manifest.json").write_text("{}")
    result = runner.invoke(app, ["train", "--data", str(ds), "--out", str(ds / "run")])
    _refused(result, f"{ds / 'run'} is inside the dataset {ds}")
    assert sorted(p.name for p in ds.iterdir()) == ["manifest.json"]


def test_case11_unreadable_image_is_one_line_naming_it(
    tmp_path: Path, endovis18_copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 11: an unreadable (chmod 000) image gives one line naming it, not a PermissionError traceback.

    Tests run as root, which ignores chmod 000, so the refusal of open() is simulated for that file.
    """
    import builtins

    import endods.frame_encoding

    src, _ = endovis18_copy
    locked = sorted(src.glob("endovis18/*/seq_1/left_frames/frame000.png"))[0]
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if Path(file) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(endods.frame_encoding, "open", guarded_open, raising=False)
    result = _build(src, tmp_path / "out")
    _refused(result, f"{locked}: cannot read (Permission denied)")
    assert not (tmp_path / "out").exists()


def test_case11_any_oserror_on_an_input_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 11 (a folder): an OSError escaping a reader, e.g. listing a chmod-000 folder, is one line naming it."""
    import endods.build

    folder = tmp_path / "src" / "endovis18"

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(endods.build, "build_mtlendovis", unreadable)
    result = _build(tmp_path / "src", tmp_path / "out")
    _refused(result, f"{folder}: Permission denied")
    assert json.dumps(result.output).count("\\n") <= 2  # a progress line and the error, nothing more
