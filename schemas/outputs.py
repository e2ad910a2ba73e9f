"""The one output policy of every command that writes a folder (docs/architecture.md, "Outputs").

A command's output folder is replaced as a whole, so choosing it wrongly loses data. Before any work:

- the output is never an input, an ancestor of an input, the current folder or an ancestor of it,
  a mount point or a filesystem root; it is not inside a sealed input either (a built dataset: its
  files are hashed in the manifest, so anything written into it makes it dirty);
- an existing non-empty folder is replaced only if the same kind of command wrote it (recognised
  by its marker or manifest), and, where the command asks for it, only with ``--overwrite``;
  anything else is refused whatever the options;
- a lock file beside the output detects a second writer to the same path; the loser stops before
  writing anything.

Pure standard library (``schemas`` stays free of torch and of the two packages that import it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ToolError

__all__ = [
    "OutputError",
    "OutputKind",
    "check_output",
    "check_output_file",
    "check_place",
    "claim_output",
    "output_lock",
]

LOCK_MESSAGE = (
    "another command is writing to {out} right now (lock {lock}); wait for it to finish or choose another path"
)


class OutputError(ToolError):
    """An output path is refused: writing there could lose data or mix two writers' files."""


@dataclass(frozen=True)
class OutputKind:
    """What a command writes: its name in messages and how to recognise a folder it wrote before.

    ``marker`` is a file name whose presence marks the folder, or a function that decides from the
    folder. ``needs_overwrite``: a previous output of this kind is replaced only with ``--overwrite``.
    """

    command: str
    marker: str | Callable[[Path], bool]
    needs_overwrite: bool = True

    def wrote(self, folder: Path) -> bool:
        if callable(self.marker):
            return self.marker(folder)
        return (folder / self.marker).is_file()

    @property
    def marker_text(self) -> str:
        return f"no {self.marker} in it" if isinstance(self.marker, str) else "not its layout"


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _holds(folder: Path, path: Path) -> bool:
    return folder == path or folder in path.parents


def check_place(out: Path | str, inputs: Iterable[Path | str] = (), sealed: Iterable[Path | str] = ()) -> Path:
    """The path-only checks of :func:`check_output`, for a command that adds to ``out`` without replacing it
    (``train --out``): raise OutputError, else return the resolved output path."""
    out = _absolute(out)
    real = out.resolve()
    if not out.name or real == Path(real.anchor):
        raise OutputError(f"{out} is the filesystem root; choose a new folder to write to")
    if real.exists() and os.path.ismount(real):
        raise OutputError(f"{out} is a mount point and cannot be replaced; choose a folder inside it")
    protected = [(Path.cwd().resolve(), "the current folder")]
    inputs = [p for p in inputs if p is not None and _absolute(p).exists()]  # a Hub id is no local path
    protected += [(_absolute(p).resolve(), f"the input {p}") for p in inputs]
    for path, what in protected:
        if _holds(real, path):
            where = f"is {what}" if real == path else f"holds {what}"
            raise OutputError(f"{out} {where}; writing there would replace it: choose another path")
    for dataset in sealed:
        if dataset is None or not _absolute(dataset).exists():
            continue
        path = _absolute(dataset).resolve()
        if path in real.parents:
            raise OutputError(
                f"{out} is inside the dataset {dataset}; its files are hashed in the manifest, so anything "
                "written into it breaks the dataset: choose a path outside it"
            )
    if out.is_symlink():
        raise OutputError(f"{out} is a symbolic link; give the folder it points to, or another path")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is a file, not a folder; remove it or choose another path")
    return real


def _check_content(out: Path, kind: OutputKind, overwrite: bool) -> None:
    try:
        if not out.is_dir() or not any(out.iterdir()):
            return
    except OSError as exc:
        raise OutputError(f"{out}: cannot read the folder ({exc.strerror}); choose another path") from None
    if not kind.wrote(out):
        raise OutputError(
            f"{out} already exists and is not a previous `{kind.command}` output ({kind.marker_text}); "
            "it is never replaced, even with --overwrite: choose another path, or remove the folder yourself"
        )
    if kind.needs_overwrite and not overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it, or choose another path")


def check_output(
    out: Path | str,
    kind: OutputKind,
    *,
    overwrite: bool = False,
    inputs: Iterable[Path | str] = (),
    sealed: Iterable[Path | str] = (),
) -> Path:
    """Raise OutputError where writing ``out`` could lose data; return its absolute path.

    ``inputs``: paths the command reads (the output must neither be nor hold them); ``sealed``: inputs
    the output must not be inside either (built datasets).
    """
    path = _absolute(out)
    inputs, sealed = list(inputs), list(sealed)
    check_place(path, [*inputs, *sealed], sealed)
    _check_content(path, kind, overwrite)
    return path


def check_output_file(out: Path | str, inputs: Iterable[Path | str] = ()) -> Path:
    """The policy for a command writing one file (``corrupt``): never an input file, never a folder."""
    path = _absolute(out)
    for p in inputs:
        if _absolute(p).exists() and path.exists() and path.resolve() == _absolute(p).resolve():
            raise OutputError(f"{out} is the input {p}; writing there would replace it: choose another path")
    if path.is_dir():
        raise OutputError(f"{out} is a folder; give a file name to write to")
    return path


def lock_path(out: Path) -> Path:
    out = _absolute(out)
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def output_lock(out: Path | str) -> Iterator[Path]:
    """Hold an exclusive lock on ``out`` (a hidden file beside it); OutputError if another process holds it.

    The lock file is removed on exit. A process that opened the file just before it was removed would
    lock a dead inode, so after locking we check that the path still names our inode, and retry if not.
    """
    path = lock_path(Path(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(LOCK_MESSAGE.format(out=_absolute(out), lock=path)) from None
            raise OutputError(f"{path}: cannot lock the output ({exc.strerror})") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


@contextlib.contextmanager
def claim_output(
    out: Path | str,
    kind: OutputKind,
    *,
    overwrite: bool = False,
    inputs: Iterable[Path | str] = (),
    sealed: Iterable[Path | str] = (),
) -> Iterator[Path]:
    """Check ``out`` (see :func:`check_output`), lock it, and check again under the lock.

    The first check refuses a bad path before the lock file is created beside it; the second sees a
    folder another writer finished meanwhile. Yields the absolute output path.
    """
    inputs, sealed = list(inputs), list(sealed)
    path = check_output(out, kind, overwrite=overwrite, inputs=inputs, sealed=sealed)
    with output_lock(path):
        yield check_output(path, kind, overwrite=overwrite, inputs=inputs, sealed=sealed)
