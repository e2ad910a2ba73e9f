"""Exports of a built dataset: the released EndoARSS folder layout and COCO (DESIGN.md "endods.export").

The Parquet dataset stays the one source of truth; exports are derived, written atomically, and carry an
`export_summary.json` saying what the format could not represent (ignore pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from endods.errors import DatasetError
from endods.export.coco import export_coco
from endods.export.common import SUMMARY_NAME, ExportSummary, ProgressFn, check_dest
from endods.export.endoarss_folder import export_endoarss, release_mask
from endods.export.naming import parse_release_name, release_name

EXPORT_FORMATS = ("endoarss", "coco")

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
    from endods.validate import check_outputs_unchanged

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
