"""`endods report`: statistics, plots, overlay contact sheets and a leakage check of a built dataset.

Output folder (written atomically; default `<OUT>-report` beside the dataset, never inside it, because
the dataset folder is the Hub upload and its files are hashed in the manifest):

    report.html   one offline page (no scripts, no CDN; images referenced relatively)
    stats.json    every number on the page
    figures/      matplotlib plots
    overlays/     one contact sheet per activity (mask in label-map colours + legend)
    leakage/      thumbnails of the near-duplicate pairs shown on the page
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from endods import __version__
from endods.report.leakage import DEFAULT_MAX_DISTANCE
from schemas.atomic import replace_dir, staging_dir
from schemas.outputs import OutputKind, check_output, claim_output

# The CLI reads DEFAULT_MAX_DISTANCE through this package at startup: matplotlib, cv2 and pyarrow
# are imported by build_report, not here, so that `endods --help` stays fast.
if TYPE_CHECKING:
    from endods.report.leakage import NearDuplicate
    from schemas.dataset import BuiltDataset
    from schemas.progress import ProgressFn

MAX_PAIRS_SHOWN = 24
PAIR_THUMB_WIDTH = 160
REPORT_FILES = ("report.html", "stats.json")
# A previous report is replaced without --overwrite (it is derived data); any other folder never.
REPORT_OUTPUT = OutputKind("endods report", lambda f: all((f / n).is_file() for n in REPORT_FILES), False)

__all__ = ["ReportSummary", "build_report", "default_report_dir"]


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    html: Path
    frames: dict[str, int]
    shared_groups: list[str]
    near_duplicates: list[NearDuplicate]


def default_report_dir(dataset_dir: Path) -> Path:
    """`<OUT>-report` next to OUT (OUT itself is the Hub upload, so the report stays outside it)."""
    dataset_dir = Path(dataset_dir)
    return dataset_dir.resolve().parent / f"{dataset_dir.resolve().name}-report"


def _pair_thumbs(ds: BuiltDataset, pairs: list[NearDuplicate], folder: Path) -> list[dict]:
    """Decode just the frames of the shown pairs (a second, targeted read) and write small thumbnails."""
    import cv2
    from PIL import Image

    from endods.report.stats import decode_record

    wanted = {p.test_frame for p in pairs} | {p.train_frame for p in pairs}
    paths: dict[str, str] = {}
    if wanted:
        folder.mkdir(parents=True, exist_ok=True)
    for split in ds.splits:
        for rec in ds.records(split):
            if rec.frame_id not in wanted:
                continue
            rgb, _ = decode_record(ds, rec.frame_id, rec.image, rec.mask)
            h = max(1, round(rgb.shape[0] * PAIR_THUMB_WIDTH / rgb.shape[1]))
            small = cv2.resize(rgb, (PAIR_THUMB_WIDTH, h), interpolation=cv2.INTER_AREA)
            name = f"{len(paths):03d}_{re.sub(r'[^A-Za-z0-9_-]+', '_', rec.frame_id)}.png"
            Image.fromarray(small).save(folder / name)
            paths[rec.frame_id] = f"{folder.name}/{name}"
    return [{**p.to_dict(), "test_thumb": paths[p.test_frame], "train_thumb": paths[p.train_frame]} for p in pairs]


def build_report(
    dataset_dir: Path,
    out: Path | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    overlay_per_activity: int = 12,
    on_progress: ProgressFn | None = None,
    workers: int | None = None,
    verify: bool = True,
) -> ReportSummary:
    """Write the report folder for the built dataset at `dataset_dir`; replaces a previous report only.

    ``verify`` (off with ``--no-verify``): manifest hashes first, then mask values and PNG signatures
    on the one pass that collects the statistics.
    """
    from schemas.dataset import open_dataset

    out = Path(out) if out is not None else default_report_dir(dataset_dir)
    ds = open_dataset(dataset_dir)
    check_output(out, REPORT_OUTPUT, sealed=[dataset_dir])
    if verify:
        from schemas.dataset import check_outputs_unchanged

        check_outputs_unchanged(dataset_dir)
    with claim_output(out, REPORT_OUTPUT, sealed=[dataset_dir]):
        return _write_report(ds, out, max_distance, overlay_per_activity, on_progress, workers, verify)


def _write_report(
    ds: BuiltDataset,
    out: Path,
    max_distance: int,
    overlay_per_activity: int,
    on_progress: ProgressFn | None,
    workers: int | None,
    verify: bool,
) -> ReportSummary:
    from endods.report.figures import write_figures
    from endods.report.html import render_html
    from endods.report.leakage import near_duplicates, shared_groups
    from endods.report.overlays import write_contact_sheets
    from endods.report.stats import collect, stats_json

    data = collect(ds, overlay_per_activity, on_progress, workers, verify=verify)
    leaks: list[NearDuplicate] = []
    if "train" in data.splits and "test" in data.splits:
        leaks = near_duplicates(
            data.hash_ids["test"], data.hashes["test"], data.hash_ids["train"], data.hashes["train"], max_distance
        )
    shared = shared_groups(data.groups)
    staged = staging_dir(out)
    try:
        figs = write_figures(data, staged / "figures")
        totals = {a: sum(data.activity_counts[s][a] for s in data.splits) for a in range(len(data.activities))}
        sheets = write_contact_sheets(data.thumbs, ds.labelmap, totals, staged / "overlays")
        pairs = _pair_thumbs(ds, leaks[:MAX_PAIRS_SHOWN], staged / "leakage")
        meta = {
            "dataset": ds.manifest.dataset,
            "version": ds.manifest.version,
            "split": ds.manifest.options.get("split", "unknown"),
            "tool": f"endods {__version__}",
            "activities": data.activities,
            "class_names": data.class_names,
        }
        leak = {
            "splits": data.splits,
            "shared_groups": shared,
            "group_counts": {g: [data.groups[g].get(s, 0) for s in data.splits] for g in shared},
            "near_duplicates": [n.to_dict() for n in leaks],
            "max_distance": max_distance,
            "hash": "dhash-64",
        }
        stats = stats_json(data, {"dataset": meta["dataset"], "version": meta["version"], "split": meta["split"]})
        stats["leakage"] = leak
        (staged / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
        sheet_list = [(data.activities[a], f"overlays/{name}") for a, name in sorted(sheets.items())]
        html = render_html(meta, stats, figs, leak, pairs, sheet_list)
        (staged / "report.html").write_text(html, encoding="utf-8")
        replace_dir(staged, out)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return ReportSummary(out, out / "report.html", dict(data.frames), shared, leaks)
