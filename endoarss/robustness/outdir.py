"""Where ``endods robustness`` may write: only a new folder, an empty one or a previous output of ours.

The results replace ``out`` as a whole, so an existing folder is taken only when it is a previous
robustness output (its ``robustness.json`` marker and nothing but the files the benchmark writes)
or when the caller passes ``overwrite``. The current folder, the filesystem root and any folder
holding the inputs are never replaced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from endods.atomic import check_replaceable
from endods.errors import OutputExistsError

MARKER = "robustness.json"
_OURS = re.compile(r"robustness\.(csv|json|md)|gallery\.png|(severity|corruptions)_[a-z0-9_]+\.png")


def is_robustness_output(folder: Path) -> bool:
    """True if ``folder`` holds the marker and only files the benchmark writes."""
    entries = list(Path(folder).iterdir())
    names = {p.name for p in entries}
    return MARKER in names and all(p.is_file() and _OURS.fullmatch(p.name) for p in entries)


def _holds(folder: Path, path: Path) -> bool:
    return folder == path or folder in path.parents


def check_output(out: Path, overwrite: bool = False, inputs: Iterable[Path | str] = ()) -> Path:
    """The absolute folder to write to; raise OutputExistsError where replacing ``out`` would lose data.

    ``inputs`` (the run, a local dataset) must not be ``out`` or lie inside it.
    """
    out = Path(os.path.abspath(Path(out).expanduser()))
    real = out.resolve()
    if not out.name:
        raise OutputExistsError(f"--out {out} is the filesystem root; choose a folder to write the results to")
    protected = [(Path.cwd().resolve(), "the current folder")]
    protected += [(Path(p).resolve(), f"the input {p}") for p in inputs if Path(p).exists()]
    for path, what in protected:
        if _holds(real, path):
            where = f"is {what}" if real == path else f"holds {what}"
            raise OutputExistsError(
                f"--out {out} {where}; the results would replace everything in it: choose another path"
            )
    check_replaceable(out)
    if out.is_dir() and any(out.iterdir()) and not overwrite and not is_robustness_output(out):
        raise OutputExistsError(
            f"output folder {out} already exists and is not a previous robustness output (no {MARKER}, or other "
            "files in it); pass --overwrite to replace it, or choose another path"
        )
    return out
