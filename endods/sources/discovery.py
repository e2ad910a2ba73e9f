"""Finding source folders under `--src` (docs/formats.md §7): case-insensitive names, explicit overrides win.

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


def find_one(root: Path | None, override: Path | None, pattern: re.Pattern[str], option: str) -> Path | None:
    """An explicit `--option DIR` (must exist), else the one sub-folder of ROOT whose name fully
    matches `pattern` (docs/formats.md §9: the same download circulates under several names).

    Two matching folders are an error listing both: reading either silently could build from the
    wrong copy, so the user picks one with `option`.
    """
    if override is not None:
        return resolve(None, override, "", option)
    if root is None or not root.is_dir():
        return None
    found = sorted(p for p in root.iterdir() if p.is_dir() and pattern.fullmatch(p.name))
    if len(found) > 1:
        listed = ", ".join(str(p) for p in found)
        raise SourceError(f"two folders in {root} match the same source: {listed}; pick one with {option} DIR")
    return found[0] if found else None


def child_path(parent: Path, *names: str) -> Path | None:
    """`parent/names[0]/names[1]/...`, each step matched ignoring case; None when a step is missing."""
    path: Path | None = parent
    for name in names:
        if path is None or not path.is_dir():
            return None
        path = child(path, name)
    return path


# Label folders of a VQLA set, newest layout first (docs/formats.md §9.1).
VQLA_LABEL_DIRS = (("vqa", "Classification"), ("vqla", "Classification"), ("vqla", "label"))


def vqla_label_dir(folder: Path) -> Path | None:
    """The label folder under a VQLA sequence folder (VQLA-18) or set folder (VQLA-17)."""
    for names in VQLA_LABEL_DIRS:
        found = child_path(folder, *names)
        if found is not None:
            return found
    return None
