"""Which --out folders the robustness benchmark may replace (endoarss.robustness.outdir)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from endoarss.robustness.outdir import check_robustness_folder, is_robustness_output
from schemas.outputs import OutputError


def _previous_output(folder: Path) -> Path:
    folder.mkdir()
    for name in ("robustness.json", "robustness.csv", "robustness.md", "gallery.png", "severity_miou.png"):
        (folder / name).write_text("x")
    return folder


def test_new_empty_and_previous_outputs_are_accepted(tmp_path: Path) -> None:
    assert check_robustness_folder(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert check_robustness_folder(tmp_path / "empty") == tmp_path / "empty"
    previous = _previous_output(tmp_path / "R")
    assert is_robustness_output(previous) and check_robustness_folder(previous) == previous


@pytest.mark.parametrize("extra", ["notes.txt", "data/", "corruptions_miou.png/"])
def test_other_folders_are_never_replaced(tmp_path: Path, extra: str) -> None:
    """Issue 16 case 4: --overwrite replaces only a previous output of the same command."""
    folder = _previous_output(tmp_path / "R")
    if extra.endswith("/"):
        (folder / extra.rstrip("/")).mkdir()
    else:
        (folder / extra).write_text("x")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=f"{re.escape(str(folder))} already exists and is not a previous"):
            check_robustness_folder(folder, overwrite=overwrite)
    (folder / "robustness.json").unlink()  # the marker alone is missing
    assert not is_robustness_output(folder)


def test_current_folder_root_and_inputs_are_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "runs" / "RUN"
    run.mkdir(parents=True)
    monkeypatch.chdir(run)
    for out, message in (
        (".", f"{re.escape(str(run.resolve()))} is the current folder"),
        ("..", "holds the current folder"),
        ("/", "is the filesystem root"),
    ):
        with pytest.raises(OutputError, match=message):
            check_robustness_folder(Path(out), overwrite=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match=re.escape(f"{tmp_path.resolve()}/runs holds the input")):
        check_robustness_folder(Path("runs"), overwrite=True, inputs=[run])
    assert (
        check_robustness_folder(Path("runs/RUN/robustness"), inputs=[run]) == tmp_path.resolve() / "runs/RUN/robustness"
    )


def test_case17_never_inside_the_dataset(tmp_path: Path) -> None:
    """Issue 16 case 17 for robustness: results are never written into the dataset being evaluated."""
    data = tmp_path / "ds"
    data.mkdir()
    with pytest.raises(OutputError, match=re.escape(f"{data / 'rob'} is inside the dataset {data}")):
        check_robustness_folder(data / "rob", sealed=[data])
