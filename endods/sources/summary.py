"""What a build would read: per source its folder, recognised layout and counts, and what is missing.

`endods sources ROOT` prints this before a long build, and every build prints it at its start, so a
user sees which download was found where (and which ISINet id table is in use) before any pixel
is decoded. Only file listings and the small label files are read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from endods.errors import SourceError
from endods.sources.base import SourceFrame
from endods.sources.discovery import vqla_label_dir

if TYPE_CHECKING:  # the readers pull in OpenCV: imported where used, so CLI start-up stays fast
    from endods.sources.endovis17 import Endovis17Paths
    from endods.sources.endovis18 import Endovis18Paths


@dataclass
class SourceEntry:
    """One source: `folder` None when not found; `layout` in words; `counts` of files found."""

    name: str
    folder: Path | None
    layout: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class SourcesSummary:
    """Sources of one dataset; `problem` is the error a build would stop with (None: it would run)."""

    dataset: str
    root: Path | None
    entries: list[SourceEntry] = field(default_factory=list)
    frames: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.frames > 0


def frame_counts(summary: SourcesSummary, frames: list[SourceFrame]) -> None:
    summary.frames = sum(1 for f in frames if f.drop is None)
    summary.dropped = dict(sorted(Counter(f.drop[0] for f in frames if f.drop is not None).items()))
    if summary.frames == 0 and summary.problem is None:
        summary.problem = "no frame is usable (every frame would be dropped)"


def _vqla_layout(folder: Path) -> str:
    label_dir = vqla_label_dir(folder)
    if label_dir is None:
        return "no label folder"
    rel = label_dir.relative_to(folder).as_posix()
    extended = label_dir.name.lower() == "classification"
    return f"{'Extended (26 answers)' if extended else 'original (18 answers)'}, labels in {rel}"


def summarize_mtlendovis(root: Path | None, **folders: Path | None) -> SourcesSummary:
    """Inspect the MTLEndovis sources (same discovery as the build); never raises SourceError."""
    from endods.sources.endovis18 import discover_endovis18, read_endovis18

    summary = SourcesSummary("mtlendovis", root)
    try:
        paths = discover_endovis18(root, **folders)
        frames = read_endovis18(paths)
    except SourceError as exc:
        summary.problem = str(exc)
        summary.entries = _partial(root, ("endovis18", "isinet18", "vqla18"))
        return summary
    summary.entries = endovis18_entries(paths)
    frame_counts(summary, frames)
    return summary


def endovis18_entries(paths: Endovis18Paths) -> list[SourceEntry]:
    """Entries for discovered MTLEndovis sources: file counts per folder, layout, id table."""
    from endods.sources.endovis18 import _endovis18_images, _isinet, _vqla
    from endods.sources.isinet import table_kind

    e18 = SourceEntry("endovis18", paths.endovis18)
    if paths.endovis18 is None:
        e18.notes.append("not found: frames come from the ISINet or VQLA copies")
    else:
        e18.layout = f"{len(paths.frame_dirs) - 1} training release folder(s) read"
        e18.counts = {"frames": len(_endovis18_images(paths))}
        e18.notes += [f"not read (not a training release): {p.name}" for p in paths.ignored_dirs]
    isi = SourceEntry("isinet18", paths.isinet18, "organised (train|val/annotations)")
    isi.counts = {
        "masks": len(_isinet(paths.isinet18, "annotations")),
        "frames": len(_isinet(paths.isinet18, "images")),
    }
    table = paths.id_table
    isi.notes.append(
        f"id table: {table_kind(table)} ({table.path.name})" if table else "id table: 2018 ids (no labels json)"
    )
    vqla = SourceEntry("vqla18", paths.vqla18, _vqla_layout_18(paths.vqla18))
    labels, images, _seqs = _vqla(paths.vqla18)
    vqla.counts = {"labels": len(labels), "frames": len(images)}
    return [e18, isi, vqla]


def _vqla_layout_18(folder: Path) -> str:
    seqs = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower().startswith("seq_"))
    return _vqla_layout(seqs[0]) if seqs else "no seq_N folder"


def summarize_mtlendovis_gen(root: Path | None, **folders: Path | None) -> SourcesSummary:
    """Inspect the MTLEndovis-Gen sources (same discovery as the build); never raises SourceError."""
    from endods.sources.endovis17 import discover_endovis17, read_endovis17

    summary = SourcesSummary("mtlendovis-gen", root)
    try:
        paths = discover_endovis17(root, **folders)
        frames = read_endovis17(paths)
    except SourceError as exc:
        summary.problem = str(exc)
        summary.entries = _partial(root, ("endovis17", "vqla17"))
        return summary
    summary.entries = endovis17_entries(paths, frames)
    frame_counts(summary, frames)
    return summary


def endovis17_entries(paths: Endovis17Paths, frames: list[SourceFrame]) -> list[SourceEntry]:
    """Entries for discovered MTLEndovis-Gen sources and the frames read from them."""
    from endods.sources.endovis17 import dataset_dirs

    datasets = dataset_dirs(paths.endovis17)
    nested = any(d.parent != paths.endovis17 for d in datasets.values())
    e17 = SourceEntry("endovis17", paths.endovis17)
    e17.layout = f"{len(datasets)} instrument_dataset_K" + (" (inside the archive folders)" if nested else "")
    e17.counts = {
        "frames": sum(1 for f in frames if f.image_path is not None),
        "masks": sum(1 for f in frames if f.mask_parts),
    }
    vqla = SourceEntry("vqla17", paths.vqla17, _vqla_layout(paths.vqla17))
    vqla.counts = {"labels": sum(1 for f in frames if f.label_path is not None)}
    return [e17, vqla]


def _partial(root: Path | None, names: tuple[str, ...]) -> list[SourceEntry]:
    """Per source, the folder found on its own (or why not), when the sources as a whole fail."""
    entries = []
    for name in names:
        entry = SourceEntry(name, None)
        try:
            entry.folder = find_source(root, name)
        except SourceError as exc:
            entry.notes.append(str(exc))
        if entry.folder is None and not entry.notes:
            entry.notes.append("not found")
        entries.append(entry)
    return entries


def _finder(name: str) -> Path | None:
    """Pattern of a source folder by name; None for the two found by plain name."""
    from endods.sources.endovis17 import VQLA17_DIR
    from endods.sources.endovis18 import VQLA18_DIR
    from endods.sources.isinet import ISINET_DIR

    return {"isinet18": ISINET_DIR, "vqla18": VQLA18_DIR, "vqla17": VQLA17_DIR}.get(name)


def find_source(root: Path | None, name: str) -> Path | None:
    """The folder of source `name` under ROOT, as the build finds it (SourceError for two candidates)."""
    from endods.sources.discovery import child, find_one

    if root is None or not Path(root).is_dir():
        return None
    pattern = _finder(name)
    if pattern is None:
        return child(Path(root), name)
    return find_one(Path(root), None, pattern, f"--{name}")
