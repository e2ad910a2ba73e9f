"""Robustness results: aggregation (paper Table VII / Figure 6) and the files of ``RUN/robustness``.

```
robustness.csv             one row per (corruption, severity) + a `clean` row: corruption, family,
                           severity, then every scalar metric (standard or compat, see `mode`)
robustness.json            the same rows + clean + per-corruption, per-family and overall means
robustness.md              per metric: corruption x severity with a mean column, family means, overall
severity_<metric>.png      metric vs severity: one line per family + the mean (paper Figure 6)
corruptions_<metric>.png   mean over severities per corruption, coloured by family (paper Table VII)
gallery.png                one frame clean and under each corruption at severities 1, 3, 5
```
Means are plain means over corruptions (and over severities); a corruption whose metric is NaN
(e.g. no HD pair) is left out of a mean, which is NaN only if every value is.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from endoarss.engine.run_folder import json_safe
from endoarss.robustness.corruptions import CORRUPTIONS, FAMILIES

CSV_FILE, JSON_FILE, MD_FILE, GALLERY_FILE = "robustness.csv", "robustness.json", "robustness.md", "gallery.png"
CLEAN_ROW = "clean"  # corruption/family of the baseline row in the CSV (severity 0)
# The paper's six columns (Acc, F1, mIoU, DS, HD, SSIM) get tables and plots; the CSV/JSON hold all.
SHOWN_METRICS = ("ac", "f1", "miou", "dice", "hd", "ssim")
PERCENT_METRICS = frozenset({"ac", "ac_overall", "f1", "miou", "miou_fg", "dice", "dice_fg", "ssim"})
_NOT_SCALAR = ("per_class_iou", "per_class_dice", "confusion_activity")


def _nanmean(values: Sequence[float]) -> float:
    array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    if array.size == 0 or np.isnan(array).all():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(array))


@dataclass
class RobustnessResult:
    """Scores of one benchmark; ``summary[metric]`` holds the aggregated tables (see :func:`summarise`)."""

    mode: str  # "standard" or "compat" metric definitions
    info: dict[str, Any]  # run, checkpoint, data, dataset, split, frames, at, image_size, seed
    severities: list[int]
    corruptions: list[str]
    metrics: list[str]  # scalar metrics in rows/clean
    shown: list[str]  # those with tables and plots
    clean: dict[str, float]
    rows: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    out: Path | None = None
    files: list[Path] = field(default_factory=list)

    def value(self, corruption: str, severity: int, metric: str) -> float:
        row = next(r for r in self.rows if r["corruption"] == corruption and r["severity"] == severity)
        return row[metric]

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "mode": self.mode,
                **self.info,
                "severities": self.severities,
                "corruptions": self.corruptions,
                "metrics": self.metrics,
                "clean": self.clean,
                "rows": self.rows,
                "summary": self.summary,
            }
        )


def summarise(result: RobustnessResult, metric: str) -> dict[str, Any]:
    """``{"corruptions": {name: {sev: v, "mean": v}}, "families": {...}, "overall": {...}, "clean": v}``."""
    per = {name: {s: result.value(name, s, metric) for s in result.severities} for name in result.corruptions}
    corruptions = {name: {**v, "mean": _nanmean(list(v.values()))} for name, v in per.items()}
    families: dict[str, dict[Any, float]] = {}
    for family, members in FAMILIES.items():
        chosen = [m for m in members if m in per]
        if chosen:
            families[family] = {s: _nanmean([per[m][s] for m in chosen]) for s in result.severities}
            families[family]["mean"] = _nanmean([corruptions[m]["mean"] for m in chosen])
    overall: dict[Any, float] = {s: _nanmean([per[m][s] for m in per]) for s in result.severities}
    overall["mean"] = _nanmean([v for m in per for v in per[m].values()])
    return {"corruptions": corruptions, "families": families, "overall": overall, "clean": result.clean[metric]}


def build_result(
    conditions: Sequence[tuple[str, int]], scores: Sequence[dict[str, Any]], mode: str, info: dict[str, Any]
) -> RobustnessResult:
    """Rows + summaries from the per-condition metric dicts; the first condition is the clean baseline."""
    clean_scores = scores[0]
    metrics = [k for k, v in clean_scores.items() if k not in _NOT_SCALAR and not isinstance(v, list)]
    rows = [
        {"corruption": name, "family": CORRUPTIONS[name], "severity": severity, **{m: score[m] for m in metrics}}
        for (name, severity), score in zip(conditions[1:], scores[1:], strict=True)
    ]
    names = list(dict.fromkeys(r["corruption"] for r in rows))
    severities = sorted({r["severity"] for r in rows})
    shown = [m for m in SHOWN_METRICS if m in metrics and not all(np.isnan(float(r[m])) for r in rows)]
    result = RobustnessResult(
        mode, dict(info), severities, names, metrics, shown, {m: clean_scores[m] for m in metrics}, rows
    )
    result.summary = {m: summarise(result, m) for m in metrics}
    return result


def fmt(metric: str, value: float | None) -> str:
    """Percent for fractions (as the paper's tables), two decimals for pixel distances; NaN → n/a."""
    if value is None or np.isnan(value):
        return "n/a"
    return f"{100 * value:.2f}" if metric in PERCENT_METRICS else f"{value:.2f}"


def unit(metric: str) -> str:
    return "%" if metric in PERCENT_METRICS else "pixels" if metric in ("hd", "hd95") else ""


def to_csv(result: RobustnessResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["corruption", "family", "severity", *result.metrics])
    writer.writerow([CLEAN_ROW, CLEAN_ROW, 0, *(_csv_value(result.clean[m]) for m in result.metrics)])
    for row in result.rows:
        writer.writerow(
            [row["corruption"], row["family"], row["severity"], *(_csv_value(row[m]) for m in result.metrics)]
        )
    return buffer.getvalue()


def _csv_value(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(value)


def to_markdown(result: RobustnessResult) -> str:
    info = result.info
    hd_note = " `hd` is the release's row distance (no unit)." if result.mode == "compat" else ""
    lines = [
        f"# Robustness of `{info.get('run')}` on {info.get('dataset')} [{info.get('split')}]",
        "",
        f"{info.get('frames')} frames; {len(result.corruptions)} corruptions x severities "
        f"{', '.join(map(str, result.severities))}; corrupted at the {_where(info)}; seed {info.get('seed')}.",
        f'Metric mode: **{result.mode}** (docs/model.md "Metrics" in the endods repository). Fractions are shown in %.{hd_note}',
        "",
        "## Overall: family means per severity",
        "",
    ]
    sev_head = [str(s) for s in result.severities]
    for metric in result.shown:
        summary = result.summary[metric]
        lines += [f"### {metric} ({unit(metric) or 'value'})", ""]
        lines += _md_table(["family", "clean", *sev_head, "mean"], _summary_rows(result, metric, summary))
        lines.append("")
    lines += ["## Per corruption", ""]
    for metric in result.shown:
        summary = result.summary[metric]
        body = [
            [
                family,
                name,
                *(fmt(metric, summary["corruptions"][name][s]) for s in result.severities),
                fmt(metric, summary["corruptions"][name]["mean"]),
            ]
            for family, members in FAMILIES.items()
            for name in members
            if name in summary["corruptions"]
        ]
        body += [
            [f"**{f} mean**", "", *(fmt(metric, v[s]) for s in result.severities), fmt(metric, v["mean"])]
            for f, v in summary["families"].items()
        ]
        overall = summary["overall"]
        body.append(
            ["**mean**", "", *(fmt(metric, overall[s]) for s in result.severities), fmt(metric, overall["mean"])]
        )
        body.append(
            ["clean", "", *([fmt(metric, summary["clean"])] * len(result.severities)), fmt(metric, summary["clean"])]
        )
        lines += [f"### {metric} ({unit(metric) or 'value'})", ""]
        lines += _md_table(["family", "corruption", *sev_head, "mean"], body)
        lines.append("")
    return "\n".join(lines)


def _where(info: dict[str, Any]) -> str:
    size = info.get("image_size") or ["?", "?"]
    return f"model input ({size[0]}x{size[1]})" if info.get("at") == "input" else "stored resolution"


def _summary_rows(result: RobustnessResult, metric: str, summary: dict[str, Any]) -> list[list[str]]:
    rows = [
        [family, fmt(metric, summary["clean"]), *(fmt(metric, v[s]) for s in result.severities), fmt(metric, v["mean"])]
        for family, v in summary["families"].items()
    ]
    overall = summary["overall"]
    rows.append(
        [
            "**all**",
            fmt(metric, summary["clean"]),
            *(fmt(metric, overall[s]) for s in result.severities),
            fmt(metric, overall["mean"]),
        ]
    )
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] * 2 + ["---:"] * (len(header) - 2)
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def write_outputs(
    result: RobustnessResult, out: Path, gallery: dict[tuple[str, int], np.ndarray], overwrite: bool = False
) -> RobustnessResult:
    """Write every file into a hidden sibling folder, then swap it in for ``out`` (atomic per folder).

    An existing ``out`` is replaced only if it is a previous robustness output or ``overwrite`` is
    set (see :func:`~endoarss.robustness.outdir.check_robustness_folder`); otherwise OutputError.
    """
    from endoarss.robustness import plots
    from endoarss.robustness.outdir import ROBUSTNESS_OUTPUT
    from schemas.atomic import replace_dir, staging_dir
    from schemas.outputs import claim_output

    with claim_output(out, ROBUSTNESS_OUTPUT, overwrite=overwrite) as out:  # locked until swapped in
        tmp = staging_dir(out)
        try:
            (tmp / CSV_FILE).write_text(to_csv(result))
            (tmp / MD_FILE).write_text(to_markdown(result) + "\n")
            for metric in result.shown:
                plots.plot_severity(result, metric, tmp / f"severity_{metric}.png")
                plots.plot_corruptions(result, metric, tmp / f"corruptions_{metric}.png")
            plots.plot_gallery(gallery, tmp / GALLERY_FILE)
            (tmp / JSON_FILE).write_text(json.dumps(result.to_json(), indent=2) + "\n")  # the marker, written last
            replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    result.out = out
    result.files = sorted(out.iterdir())
    return result
