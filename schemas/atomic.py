"""Atomic files and folders: write into a hidden sibling temp file or dir, then rename it into place.

A crash (even kill -9) before the swap leaves the previous output untouched; stale temp dirs of
dead processes are removed by the next build into the same place. Shared by `endods` and `endoarss`
(standard library only).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from schemas.outputs import OutputError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def check_replaceable(out: Path) -> None:
    """Refuse an output path that is a file or a symbolic link: only a folder is replaced.

    Swapping a staged folder onto a file, or onto a link (replacing the link, not its target),
    would half-succeed; the check runs before any work so nothing is written.
    """
    out = Path(out)
    if out.is_symlink():
        raise OutputError(f"{out} is a symbolic link; give the folder it points to, or another path")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is a file, not a folder; remove it or choose another path")


def staging_dir(out: Path) -> Path:
    out = Path(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    path = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def remove_stale_staging(out: Path) -> None:
    for candidate in out.parent.glob(f".{out.name}.tmp-*"):
        try:
            pid = int(candidate.name.rsplit(".tmp-", 1)[1].split("-")[0])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(candidate, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): swap two paths in one step. False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    res = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return res == 0


def replace_dir(staged: Path, out: Path) -> None:
    """Move `staged` to `out`, replacing an existing `out` atomically where the OS allows."""
    if not out.exists():
        os.rename(staged, out)
        return
    if _exchange(staged, out):
        shutil.rmtree(staged)  # now holds the previous output
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(out, old)
    os.rename(staged, out)
    shutil.rmtree(old, ignore_errors=True)


def place_file(temp: Path, path: Path) -> None:
    """Rename a finished temp file onto `path` in one step, for writers that learn the final name only at the end.

    `temp` must sit in `path`'s folder (one filesystem); readers see no file or the complete one.
    """
    os.replace(temp, path)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temp file beside `path` for writing; on success rename it onto `path`, else remove it.

    Readers see the old file or the complete new one, never a partial write; the temp file lives in
    the same folder so the rename stays on one filesystem.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, mode, newline=newline) as stream:
            yield stream
        umask = os.umask(0)  # mkstemp creates 0600; give the file the permissions a plain open() would
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path, "wb") as stream:
        stream.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path, "w") as stream:
        stream.write(text)
