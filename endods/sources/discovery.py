"""Finding source folders under `--src` (FORMATS.md §7): case-insensitive names, explicit overrides win.

Users unpack archives as distributed, and archive names differ in case between mirrors
(`EndoVis-18-VQLA` vs `endovis-18-vqla`), so every name below ROOT is matched case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from endods.errors import SourceError


def check_root(root: Path | None, what: str) -> None:
    """ROOT must be an existing, non-empty folder when it is needed for discovery."""
    if root is None:
        return
    if not root.is_dir():
        raise SourceError(f"--src {root} does not exist or is not a folder (looking for the {what} sources)")
    if not any(root.iterdir()):
        raise SourceError(f"--src {root} is empty (looking for the {what} sources)")


def child(parent: Path, name: str) -> Path | None:
    """The sub-folder of `parent` whose name equals `name` ignoring case (exact match preferred)."""
    if (parent / name).is_dir():
        return parent / name
    matches = sorted(p for p in parent.iterdir() if p.is_dir() and p.name.lower() == name.lower())
    return matches[0] if matches else None


def resolve(root: Path | None, override: Path | None, name: str, option: str) -> Path | None:
    """An explicit `--option DIR` (must exist), else ROOT/<name> ignoring case, else None."""
    if override is not None:
        override = Path(override)
        if not override.is_dir():
            raise SourceError(f"{option} {override} does not exist or is not a folder")
        return override
    if root is None:
        return None
    return child(root, name)


def require(path: Path | None, root: Path | None, name: str, option: str, what: str) -> Path:
    """Error naming the folder looked for and where, when a required source is missing."""
    if path is None:
        where = f"in {root}" if root is not None else "(no --src given)"
        raise SourceError(f"{what}: folder '{name}' not found {where}; pass it with {option} DIR")
    return path


def subdirs(parent: Path, pattern: re.Pattern[str]) -> Iterator[tuple[re.Match[str], Path]]:
    """Sub-folders whose name fully matches `pattern` (compiled with IGNORECASE), sorted by name."""
    if not parent.is_dir():
        return
    for path in sorted(parent.iterdir()):
        match = pattern.fullmatch(path.name)
        if match and path.is_dir():
            yield match, path


def files(parent: Path | None, suffix: str) -> list[Path]:
    """Files of `parent` with `suffix` (case-insensitive), sorted; [] when the folder is missing."""
    if parent is None or not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.suffix.lower() == suffix and p.is_file())
