"""What every exporter shares: split selection, the summary it returns, and the atomic destination."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from endods.errors import DatasetError
from schemas.atomic import replace_dir, staging_dir
from schemas.dataset import BuiltDataset, Record
from schemas.labelmaps import IGNORE_INDEX
from schemas.outputs import OutputKind, check_output, claim_output

SUMMARY_NAME = "export_summary.json"
EXPORT_OUTPUT = OutputKind("endods export", SUMMARY_NAME)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class ExportSummary:
    """What was written; `ignore_pixels` are the 255 pixels that the target format cannot represent."""

    format: str
    dest: Path
    dataset: str
    version: str
    frames: dict[str, int] = field(default_factory=dict)
    ignore_pixels: dict[str, int] = field(default_factory=dict)
    ignore_frames: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dest"] = str(self.dest)
        return data


def select_splits(ds: BuiltDataset, splits: Sequence[str] | None) -> list[str]:
    """The requested splits in dataset order; a split the dataset does not have is an error."""
    available = ds.splits
    if not splits:
        return available
    unknown = [s for s in splits if s not in available]
    if unknown:
        raise DatasetError(f"{ds.path}: no split {unknown[0]!r} in this dataset (have: {', '.join(available)})")
    return [s for s in available if s in splits]


def check_folder_name(name: str, what: str) -> str:
    if not _FOLDER_NAME.match(name) or name == "train":
        raise DatasetError(f"{what} must be a plain folder name other than 'train', got {name!r}")
    return name


def total_rows(ds: BuiltDataset, splits: Sequence[str]) -> int:
    return sum(ds.num_rows(s) for s in splits)


def check_dest(dest: Path, overwrite: bool, dataset: Path) -> None:
    """The output policy for an export: never the dataset, inside it, or a folder another command wrote."""
    check_output(dest, EXPORT_OUTPUT, overwrite=overwrite, sealed=[dataset])


@contextlib.contextmanager
def staged_dest(dest: Path, overwrite: bool, dataset: Path) -> Iterator[Path]:
    """Lock `dest`, write into a hidden sibling folder and swap it in only when the export completed."""
    dest = Path(dest)
    with claim_output(dest, EXPORT_OUTPUT, overwrite=overwrite, sealed=[dataset]):
        staged = staging_dir(dest)
        try:
            yield staged
            replace_dir(staged, dest)
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)


def check_record(ds: BuiltDataset, rec: Record, mask: np.ndarray) -> None:
    """The streaming integrity check (docs/formats.md §5): a PNG image, mask values in the label map.

    Runs on the decoded mask the export needs anyway, so it costs no second read.
    """
    if not rec.image.startswith(PNG_SIGNATURE):
        raise DatasetError(
            f"{ds.path}: image of frame {rec.frame_id} is not a PNG (starts {rec.image[:8]!r}); "
            "the dataset was changed after its build: rebuild it (or pass --no-verify to export it as is)"
        )
    values = np.unique(mask)
    bad = values[(values >= ds.labelmap.num_classes) & (values != IGNORE_INDEX)]
    if bad.size:
        raise DatasetError(
            f"{ds.path}: mask of frame {rec.frame_id} holds value(s) {bad.tolist()} outside the label map "
            f"(0..{ds.labelmap.num_classes - 1} and {IGNORE_INDEX}); rebuild the dataset "
            "(or pass --no-verify to export it as is)"
        )


def write_summary(folder: Path, summary: ExportSummary) -> None:
    data = summary.to_dict()
    data.pop("dest")
    (folder / SUMMARY_NAME).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


class UniqueNames:
    """Two frame_ids that map to one released name would overwrite each other silently: refuse instead."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def claim(self, key: str, frame_id: str) -> None:
        other = self._seen.setdefault(key, frame_id)
        if other != frame_id:
            raise DatasetError(f"frames {other!r} and {frame_id!r} would both be exported as {key}")
