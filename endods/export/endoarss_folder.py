"""Export to the released EndoARSS folder layout (docs/formats.md §6.1), which the original code trains on.

`<dest>/{train,<val_name>}/<activity folder>/{image,mask}/<name>.png`, activity folder = ClassLabel index + 1.
Masks use the release encoding: raw = class_id + 1 for class_id >= 1, raw 0 for background, because the
loader does `mask[mask > 0] -= 1`. Ignore pixels (255) cannot be expressed there and are written as 0;
the summary counts them so a user sees what the export flattened.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from endods.errors import DatasetError
from endods.export.common import (
    ExportSummary,
    UniqueNames,
    check_dest,
    check_folder_name,
    check_record,
    select_splits,
    staged_dest,
    total_rows,
    write_summary,
)
from endods.export.naming import release_name
from endods.pngio import PngError, decode_png, encode_png
from schemas.dataset import open_dataset
from schemas.labelmaps import IGNORE_INDEX
from schemas.progress import ProgressFn


def release_mask(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Class-id mask → release encoding, and how many ignore pixels became background."""
    ignore = mask == IGNORE_INDEX
    raw = np.where((mask == 0) | ignore, 0, mask.astype(np.int16) + 1).astype(np.uint8)
    return raw, int(ignore.sum())


def export_endoarss(
    path: Path,
    dest: Path,
    val_name: str = "test",
    splits: Sequence[str] | None = None,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    verify: bool = True,
) -> ExportSummary:
    """Write the built dataset at `path` in the released layout under `dest` (atomically)."""
    check_dest(Path(dest), overwrite, Path(path))
    ds = open_dataset(path)
    chosen = select_splits(ds, splits)
    check_folder_name(val_name, "--val-name")
    max_raw = ds.labelmap.max_class_id + 1
    summary = ExportSummary("endoarss", Path(dest), ds.manifest.dataset, ds.manifest.version)
    summary.notes.append(
        f"mask raw values are 0 and 2..{max_raw}: class id k >= 1 is written as k + 1, background and ignore "
        "(255) as 0 (raw 1 never occurs); activity folder = activity index + 1"
    )
    total, done = total_rows(ds, chosen), 0
    if on_progress:
        on_progress(0, total)
    with staged_dest(dest, overwrite, Path(path)) as staged:
        names = UniqueNames()
        for split in chosen:
            folder = val_name if split == "test" else split
            summary.frames[folder] = summary.ignore_pixels[folder] = summary.ignore_frames[folder] = 0
            for rec in ds.records(split):
                name = release_name(rec.frame_id) + ".png"
                activity_dir = staged / folder / str(rec.activity + 1)
                names.claim(f"{folder}/{rec.activity + 1}/{name}", rec.frame_id)
                try:
                    mask = decode_png(rec.mask, cv2.IMREAD_UNCHANGED)
                except PngError as exc:
                    raise DatasetError(f"{ds.path}: mask of frame {rec.frame_id} does not decode ({exc})") from exc
                if verify:
                    check_record(ds, rec, mask)
                raw, ignored = release_mask(mask)
                for sub, data in (("image", rec.image), ("mask", encode_png(raw))):
                    (activity_dir / sub).mkdir(parents=True, exist_ok=True)
                    (activity_dir / sub / name).write_bytes(data)
                summary.frames[folder] += 1
                summary.ignore_pixels[folder] += ignored
                summary.ignore_frames[folder] += int(ignored > 0)
                done += 1
                if on_progress:
                    on_progress(done, total)
        write_summary(staged, summary)
    return summary
