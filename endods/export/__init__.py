"""Exports of a built dataset: the released EndoARSS folder layout and COCO (docs/architecture.md "Packages").

The Parquet dataset stays the one source of truth; exports are derived, written atomically, and carry an
`export_summary.json` saying what the format could not represent (ignore pixels).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from endods.errors import DatasetError
from endods.export.naming import parse_release_name, release_name

if TYPE_CHECKING:
    from endods.export.coco import export_coco
    from endods.export.common import SUMMARY_NAME, ExportSummary
    from endods.export.endoarss_folder import export_endoarss, release_mask
    from schemas.progress import ProgressFn

EXPORT_FORMATS = ("endoarss", "coco")

# Imported on first use: the CLI reads `endods.export.naming` at startup, and the writers pull in
# cv2, pycocotools and pyarrow.
_LAZY = {
    "export_coco": "endods.export.coco",
    "SUMMARY_NAME": "endods.export.common",
    "ExportSummary": "endods.export.common",
    "export_endoarss": "endods.export.endoarss_folder",
    "release_mask": "endods.export.endoarss_folder",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EXPORT_FORMATS",
    "SUMMARY_NAME",
    "ExportSummary",
    "export_coco",
    "export_dataset",
    "export_endoarss",
    "parse_release_name",
    "release_mask",
    "release_name",
]


def export_dataset(
    path: Path,
    dest: Path,
    fmt: str,
    val_name: str = "test",
    splits: Sequence[str] | None = None,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    verify: bool = True,
) -> ExportSummary:
    """Dispatch on `fmt`; `val_name` only applies to the EndoARSS layout (COCO keeps split names).

    A dataset whose files changed after the build is refused: the export would carry its damage on.
    ``verify=False`` (``--no-verify``) skips the manifest hashes and the per-record check.
    """
    from endods.export.coco import export_coco
    from endods.export.common import check_dest
    from endods.export.endoarss_folder import export_endoarss
    from schemas.dataset import check_outputs_unchanged

    if fmt not in EXPORT_FORMATS:
        raise DatasetError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    check_dest(Path(dest), overwrite, Path(path))
    if verify:
        check_outputs_unchanged(path)
    if fmt == "endoarss":
        return export_endoarss(path, dest, val_name, splits, overwrite, on_progress, verify)
    if fmt == "coco":
        return export_coco(path, dest, splits, overwrite, on_progress, verify)
    raise DatasetError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
