"""ISINet instrument-type masks: the organised form, its id table, and the raw download (docs/formats.md §9.5).

ISINet's `organize2018.py` writes `labels_2017.json` next to the organised masks: the
`[{name, classid}]` table the user chose. With the 2017-compatible table ISINet recommends, ids
6-9 name other instruments than the 2018 ids, so mask ids are mapped by class *name* to the
MTLEndovis ids instead of being trusted as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from endods.errors import SourceError
from endods.sources.base import IdTable
from schemas.labelmaps import ENDOVIS_CLASSES

TABLE_NAME = "labels_2017.json"
# Instruments of the 2017-compatible table that have no MTLEndovis class: background, counted.
UNMAPPED_NAMES = frozenset({"vessel sealer", "grasping retractor"})
ISINET_DIR = re.compile(r".*isinet.*", re.IGNORECASE)
RAW_MASK_DIR = "instrument_labels_2017"


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


_MTL_IDS = {_norm(c.name): c.id for c in ENDOVIS_CLASSES}


def find_table(isinet: Path) -> Path | None:
    """`labels_2017.json` in the ISINet folder, else the one `*labels*.json` there; None when absent."""
    exact = [p for p in sorted(isinet.glob("*.json")) if p.name.lower() == TABLE_NAME]
    if exact:
        return exact[0]
    found = [p for p in sorted(isinet.glob("*.json")) if "labels" in p.name.lower() and p.is_file()]
    if len(found) > 1:
        listed = ", ".join(str(p) for p in found)
        raise SourceError(f"{isinet}: several label tables {listed}; keep only the one passed to organize2018.py")
    return found[0] if found else None


def load_table(path: Path) -> IdTable:
    """Read a `[{name, classid}]` table and map each id by class name to its MTLEndovis id.

    SourceError naming the file and the entry for a table that is not that shape or names an
    instrument this toolkit does not know.
    """
    try:
        entries = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the ISINet label table: {exc}") from None
    if not isinstance(entries, list):
        raise SourceError(f"{path}: ISINet label table must be a JSON list of {{name, classid}}")
    lut = [-1] * 256
    lut[0] = 0
    unmapped: set[int] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("classid"), int) or "name" not in entry:
            raise SourceError(f"{path}: entry {entry!r} is not {{'name': ..., 'classid': int}}")
        class_id, name = entry["classid"], _norm(str(entry["name"]))
        if not 0 <= class_id <= 255:
            raise SourceError(f"{path}: classid {class_id} of {entry['name']!r} is outside 0..255")
        if name in _MTL_IDS:
            lut[class_id] = _MTL_IDS[name]
        elif name in UNMAPPED_NAMES:
            lut[class_id] = 0
            unmapped.add(class_id)
        else:
            known = sorted(_MTL_IDS) + sorted(UNMAPPED_NAMES)
            raise SourceError(f"{path}: class name {entry['name']!r} (classid {class_id}) is not one of {known}")
    return IdTable(path, tuple(lut), frozenset(unmapped))


def describe_table(table: IdTable | None, base: Path) -> dict:
    """Manifest entry: which table mapped the mask ids (a relative file name keeps builds reproducible)."""
    if table is None:
        return {"file": None, "ids": "2018 (ISINet ids = MTLEndovis ids; no label table found)"}
    path = table.path.relative_to(base).as_posix() if table.path.is_relative_to(base) else table.path.name
    mapping = {str(i): v for i, v in enumerate(table.lut) if v >= 0 and i > 0}
    return {"file": path, "to_mtlendovis": mapping, "unmapped": sorted(table.unmapped)}


def table_kind(table: IdTable | None) -> str:
    """'2018', '2017' or 'custom', for the sources summary."""
    if table is None or table.is_identity:
        return "2018"
    if table.lut[6] == 4 and table.lut[9] == 7 and table.unmapped == {4, 5}:
        return "2017"
    return "custom"


def raw_download_error(isinet: Path, root: Path | None) -> SourceError | None:
    """The error for an ISINet folder that holds only the raw download, with the command that organises it."""
    raw = next((p for p in sorted(isinet.glob(f"*/*/{RAW_MASK_DIR}")) if p.is_dir()), None)
    raw = raw or next((p for p in sorted(isinet.glob(f"*/{RAW_MASK_DIR}")) if p.is_dir()), None)
    if raw is None:
        return None
    jsons = sorted(isinet.rglob("*.json"))
    label_path = next((str(p) for p in jsons if "2017" in p.name), str(jsons[0]) if jsons else "<labels json>")
    save = (root or isinet.parent) / "isinet18"
    return SourceError(
        f"{isinet} holds the raw ISINet download ({raw} has instance masks) but no organised "
        "'<train|val>/annotations' folder. Organise it with ISINet's script, then build again: "
        f"python data/organize2018.py --data-dir {isinet} --save-dir {save} --label-path {label_path} "
        f"(and pass --isinet18 {save} if both folders stay under the same root)"
    )
