"""File names of the released EndoARSS layout (docs/formats.md §6.1) and their inverse.

The original loader identifies a frame only by `<split>/<activity folder>/{image,mask}/<name>.png`, so the
name is the only place our frame_id/group can survive an export. The forward and inverse rules live side by
side here so that export → import is an exact round trip:

| dataset | frame_id | released name |
|---|---|---|
| mtlendovis | `seq_N/frameXXX` | `seqN_frameXXX` |
| mtlendovis-gen | `instrument_dataset_K/frameXXX` | `seqK_frameXXX` |
| mtlesd | `<video>/<frame:06d>` | `<video>_<frame:06d>` |
| any other frame_id | `a/b` | `a_b` (imported back as frame_id = group = `a_b`) |
"""

from __future__ import annotations

import re

from schemas.labelmaps import LABEL_MAPS

_SEQ_ID = re.compile(r"^seq_(\d+)/(frame\d+)$")
_GEN_ID = re.compile(r"^instrument_dataset_(\d+)/(frame\d+)$")
_ESD_ID = re.compile(r"^([^/]+)/(\d{6})$")
_SEQ_NAME = re.compile(r"^seq(\d+)_(frame\d+)$")
_ESD_NAME = re.compile(r"^(.+)_(\d{6})$")

# Which `source` an imported record gets: the public source each dataset is built from.
DATASET_SOURCES = {"mtlendovis": "endovis18", "mtlendovis-gen": "endovis17", "mtlesd": "esd"}
IMPORT_DATASETS = tuple(d for d in LABEL_MAPS if d in DATASET_SOURCES)


def release_name(frame_id: str) -> str:
    """The released file stem of a frame (without `.png`); never contains a path separator."""
    for pattern in (_SEQ_ID, _GEN_ID):
        m = pattern.match(frame_id)
        if m:
            return f"seq{m.group(1)}_{m.group(2)}"
    m = _ESD_ID.match(frame_id)
    if m:
        return f"{m.group(1)}_{m.group(2)}"
    return frame_id.replace("/", "_")


def parse_release_name(stem: str, dataset: str) -> tuple[str, str]:
    """(frame_id, group) of a released file stem; an unparsable stem becomes both frame_id and group."""
    if dataset in ("mtlendovis", "mtlendovis-gen"):
        m = _SEQ_NAME.match(stem)
        if m:
            group = f"seq_{m.group(1)}" if dataset == "mtlendovis" else f"instrument_dataset_{m.group(1)}"
            return f"{group}/{m.group(2)}", group
    elif dataset == "mtlesd":
        m = _ESD_NAME.match(stem)
        if m:
            return f"{m.group(1)}/{m.group(2)}", m.group(1)
    return stem, stem
