"""Provenance recorded beside every output: the code's git commit and the installed package versions.

One copy for both sides (a built dataset's manifest and a training RUN folder's run info), so the two
cannot drift. Standard library only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def git_sha() -> str | None:
    """HEAD of the checkout this code runs from, or None outside a git checkout (an installed wheel)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution in `names`; None for one that is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
