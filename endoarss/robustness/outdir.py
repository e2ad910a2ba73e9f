"""Where ``endods robustness`` may write: a new folder, an empty one or a previous output of ours.

The results replace ``out`` as a whole, so the shared output policy (:mod:`schemas.outputs`) applies:
a previous robustness output (its ``robustness.json`` marker and nothing but the files the benchmark
writes) is replaced; any other folder, the current folder, the filesystem root and any folder holding
the inputs never are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from schemas.outputs import OutputKind
from schemas.outputs import check_output as check_policy

MARKER = "robustness.json"
_OURS = re.compile(r"robustness\.(csv|json|md)|gallery\.png|(severity|corruptions)_[a-z0-9_]+\.png")


def is_robustness_output(folder: Path) -> bool:
    """True if ``folder`` holds the marker and only files the benchmark writes."""
    entries = list(Path(folder).iterdir())
    names = {p.name for p in entries}
    return MARKER in names and all(p.is_file() and _OURS.fullmatch(p.name) for p in entries)


# Derived results: a previous output is replaced without --overwrite.
ROBUSTNESS_OUTPUT = OutputKind("endods robustness", is_robustness_output, needs_overwrite=False)


def check_robustness_folder(
    out: Path, overwrite: bool = False, inputs: Iterable[Path | str] = (), sealed: Iterable[Path | str] = ()
) -> Path:
    """The absolute folder to write to; raise OutputError where replacing ``out`` would lose data.

    ``inputs`` (the run, a local dataset) must not be ``out`` or lie inside it; nothing is written
    inside a ``sealed`` input (the dataset: its files are hashed in its manifest).
    """
    return check_policy(out, ROBUSTNESS_OUTPUT, overwrite=overwrite, inputs=inputs, sealed=sealed)
