"""The shared output policy (schemas.outputs): where a command may write, and the lock against a second writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.outputs import OutputError, OutputKind, check_output, check_place, claim_output, lock_path, output_lock

KIND = OutputKind("endods test", "marker.json")


def _mount_point() -> Path:
    """A mount point other than / that every Linux has (the test refuses it, never writes there)."""
    return next(Path(p) for p in ("/proc", "/sys", "/dev") if os.path.ismount(p))


def test_new_empty_and_own_folders_are_accepted(tmp_path: Path) -> None:
    assert check_output(tmp_path / "new", KIND) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", KIND) == tmp_path / "empty"
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "marker.json").write_text("{}")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_output(tmp_path / "ours", KIND)
    assert check_output(tmp_path / "ours", KIND, overwrite=True) == tmp_path / "ours"
    relaxed = OutputKind("endods test", "marker.json", needs_overwrite=False)
    assert check_output(tmp_path / "ours", relaxed) == tmp_path / "ours"


def test_case4_a_folder_another_command_wrote_is_never_replaced(tmp_path: Path) -> None:
    """Case 4: --overwrite on a folder holding thesis.tex is refused, with the reason."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("chapter 1")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a previous `endods test` output \\(no marker.json in it\\)"):
            check_output(tmp_path / "mine", KIND, overwrite=overwrite)


def test_case1_inputs_and_their_ancestors_are_refused(tmp_path: Path) -> None:
    """Case 1: the output is never an input nor an ancestor of one."""
    src = tmp_path / "data" / "src"
    src.mkdir(parents=True)
    with pytest.raises(OutputError, match=f"{src} is the input {src}"):
        check_output(src, KIND, overwrite=True, inputs=[src])
    with pytest.raises(OutputError, match=f"{tmp_path / 'data'} holds the input {src}"):
        check_output(tmp_path / "data", KIND, overwrite=True, inputs=[src])
    assert check_output(src / "out", KIND, inputs=[src]) == src / "out"  # inside a plain input is fine


def test_case17_inside_a_sealed_dataset_is_refused(tmp_path: Path) -> None:
    """Case 17: nothing is written inside a dataset (its files are hashed in its manifest)."""
    ds = tmp_path / "ds"
    ds.mkdir()
    with pytest.raises(OutputError, match=f"{ds / 'run'} is inside the dataset {ds}"):
        check_place(ds / "run", sealed=[ds])
    with pytest.raises(OutputError, match=f"{ds} is the input {ds}"):
        check_output(ds, KIND, sealed=[ds])
    assert check_place(tmp_path / "run", sealed=[ds, "org/hub-id"]) == (tmp_path / "run").resolve()


def test_case2_case15_current_folder_root_and_mount_points_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases 2 and 15: `--out .`, `--out "$PWD"`, an ancestor of it, / and a mount point, before any work."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out, message in (
        (".", "is the current folder"),
        (str(work), "is the current folder"),
        ("..", "holds the current folder"),
    ):
        with pytest.raises(OutputError, match=message):
            check_output(out, KIND, overwrite=True)
    with pytest.raises(OutputError, match="is the filesystem root"):
        check_output("/", KIND, overwrite=True)
    mount = _mount_point()
    with pytest.raises(OutputError, match=f"{mount} is a mount point"):
        check_output(mount, KIND, overwrite=True)
    assert list(work.iterdir()) == []


def test_files_and_links_are_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "file", KIND)
    with pytest.raises(OutputError, match="is a symbolic link"):
        check_output(tmp_path / "link", KIND)


def test_case5_a_second_writer_is_refused_and_the_lock_file_goes_away(tmp_path: Path) -> None:
    """Case 5: two writers to one --out: the second fails on the lock, before checking or writing anything."""
    out = tmp_path / "ds"
    with claim_output(out, KIND) as claimed:
        assert claimed == out and lock_path(out).is_file()
        with pytest.raises(OutputError, match=f"another command is writing to {out} right now"):
            with output_lock(out):
                pass
        # a separate process (flock is per open file, so this is the real case)
        code = f"from schemas.outputs import output_lock\nwith output_lock({str(out)!r}): pass\n"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
        assert proc.returncode == 1 and "another command is writing to" in proc.stderr
    assert not lock_path(out).exists() and not out.exists()
    with output_lock(out):  # released: the next writer gets it
        pass
