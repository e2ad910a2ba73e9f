"""Writing a synthetic source tree: files under a staged folder, swapped into DEST at the end.

A synthetic tree never replaces a real download: DEST/.endods-synth lists what `endods synth` wrote.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from endods.errors import OutputExistsError
from schemas.outputs import check_place, output_lock


class TreeWriter:
    """Writes files under a root, creating folders, counting files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.write_bytes(data)
        self.files += 1
        return path

    def write_json(self, rel: str, obj: object) -> Path:
        return self.write(rel, json.dumps(obj, indent=2) + "\n")


@contextmanager
def staged_tree(dest: Path, names: tuple[str, ...], overwrite: bool) -> Iterator[TreeWriter]:
    """Write source folders `names` under DEST atomically: into a temp dir, renamed at the end.

    An existing DEST/<name> is an error unless `overwrite`, and is replaced only if a previous synth
    wrote it (listed in DEST/.endods-synth: a real download is never replaced by synthetic data).
    DEST is locked while writing. A failed run leaves DEST untouched.
    """
    if dest.exists() and not dest.is_dir():
        raise OutputExistsError(f"{dest} is a file; synthetic sources are written into a folder")
    for name in names:  # a replaced folder is never the current folder or one holding it
        if not (dest / name).is_file():
            check_place(dest / name)
    with output_lock(dest):
        ours = _synth_names(dest)
        for name in names:
            if (dest / name).exists() and not overwrite:
                raise OutputExistsError(f"{dest / name} already exists (pass --overwrite to replace it)")
            if (dest / name).exists() and name not in ours:
                raise OutputExistsError(
                    f"{dest / name} already exists and was not written by `endods synth` (not listed in "
                    f"{dest / SYNTH_MARKER}); it is never replaced, even with --overwrite: choose another DEST"
                )
        with _staged_names(dest, names) as writer:
            yield writer
        (dest / SYNTH_MARKER).write_text("".join(f"{n}\n" for n in sorted(ours | set(names))))


SYNTH_MARKER = ".endods-synth"


def _synth_names(dest: Path) -> set[str]:
    marker = dest / SYNTH_MARKER
    return set(marker.read_text().split()) if marker.is_file() else set()


@contextmanager
def _staged_names(dest: Path, names: tuple[str, ...]) -> Iterator[TreeWriter]:
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".synth.tmp-{names[0]}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield TreeWriter(tmp)
        for name in names:
            shutil.rmtree(dest / name, ignore_errors=True)
            if (tmp / name).exists():
                (tmp / name).rename(dest / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
