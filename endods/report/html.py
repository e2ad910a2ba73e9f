"""report.html: one self-contained page (inline CSS, no scripts, no CDN), images referenced relatively.

The page must open offline from any copy of the report folder, so nothing is fetched and every path
is relative to the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;background:#f8f9fa}
header{background:#212529;color:#fff;padding:16px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#adb5bd;font-size:14px}
nav{padding:8px 32px;background:#e9ecef;font-size:14px}nav a{margin-right:16px;color:#0b5ed7;text-decoration:none}
main{padding:8px 32px 48px;max-width:1400px}section{background:#fff;border:1px solid #dee2e6;border-radius:6px;
padding:12px 20px 20px;margin:16px 0}h2{font-size:18px;margin:8px 0 12px}h3{font-size:15px;margin:16px 0 8px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #dee2e6;padding:4px 10px}
th{background:#f1f3f5;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
img.fig{max-width:100%;height:auto;display:block;margin:8px 0}.figs{display:flex;flex-wrap:wrap;gap:16px}
.figs img{max-width:800px}.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.ok{color:#198754;font-weight:600}.warn{color:#b02a37;font-weight:600}
.pair{display:inline-block;margin:0 16px 16px 0;padding:8px;border:1px solid #dee2e6;border-radius:4px;
vertical-align:top;font-size:12px}.pair .two{display:flex;gap:8px}.pair figure{margin:0;width:160px}
.pair img{display:block;width:160px;height:auto}.pair figcaption{overflow-wrap:anywhere;margin-top:2px}
.muted{color:#6c757d;font-size:13px}
"""


class Markup(str):
    """A string that is already HTML (tables leave it unescaped)."""


def _table(header: list[str], rows: list[list[Any]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="n"' if i >= numeric_from else ""
            cells.append(f"<td{cls}>{v if isinstance(v, Markup) else escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(src: str, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" src="{escape(src)}" alt="{escape(alt)}">'


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _counts_section(stats: dict[str, Any], splits: list[str], activities: list[str], figs: dict[str, str]) -> str:
    rows = []
    for a in activities:
        vals = [stats["splits"][s]["activities"][a] for s in splits]
        rows.append([a, *vals, sum(vals)])
    totals = [stats["splits"][s]["frames"] for s in splits]
    rows.append([Markup("<b>total</b>"), *totals, sum(totals)])
    chart = _img("figures/" + figs["activity_counts"], "frames per activity and split")
    return f'<div class="row">{_table(["activity", *splits, "all"], rows)}<div class="figs">{chart}</div></div>'


def _classes_section(stats: dict[str, Any], splits: list[str], class_names: list[str], figs: dict[str, str]) -> str:
    rows = []
    for c in class_names:
        row: list[Any] = [c]
        for s in splits:
            sp = stats["splits"][s]
            row += [
                _pct(sp["class_pixel_share"][c]),
                f"{sp['class_images'][c]} ({_pct(sp['class_image_frequency'][c])})",
            ]
        rows.append(row)
    header = ["class"] + [h for s in splits for h in (f"{s} pixel share", f"{s} images")]
    ignore = ", ".join(f"{s}: {stats['splits'][s]['ignore_pixels']}" for s in splits)
    imgs = "".join(
        _img("figures/" + figs[k], k.replace("_", " ")) for k in ("class_pixel_share", "class_image_frequency")
    )
    cooc = _img("figures/" + figs["cooccurrence"], "activity x class co-occurrence")
    return (
        _table(header, rows)
        + f'<p class="muted">Pixel share = share of labelled pixels (ignore excluded). Ignore pixels: {escape(ignore)}.</p>'
        + f'<div class="figs">{imgs}</div><h3>Activity × class co-occurrence</h3>{cooc}'
    )


def _groups_section(stats: dict[str, Any], splits: list[str], figs: dict[str, str]) -> str:
    rows = [[g, *(per.get(s, 0) for s in splits)] for g, per in stats["groups"].items()]
    sizes = sorted({size for s in splits for size in stats["splits"][s]["image_sizes"]})
    size_rows = [[size, *(stats["splits"][s]["image_sizes"].get(size, 0) for s in splits)] for size in sizes]
    group_chart = _img("figures/" + figs["groups"], "frames per group and split")
    size_chart = _img("figures/" + figs["image_sizes"], "image sizes")
    return (
        f'<div class="row">{_table(["group", *splits], rows)}<div class="figs">{group_chart}</div></div>'
        + "<h3>Image sizes</h3>"
        + f'<div class="row">{_table(["width x height", *splits], size_rows)}<div class="figs">{size_chart}</div></div>'
    )


def _leakage_section(leak: dict[str, Any], pairs: list[dict[str, Any]]) -> str:
    shared = leak["shared_groups"]
    parts = []
    if len(leak["splits"]) < 2:
        parts.append('<p class="ok">Only one split: nothing can leak.</p>')
    elif shared:
        parts.append(
            f'<p class="warn">{len(shared)} group(s) have frames on both sides of the split '
            "(frames of one sequence/video in train and test: test scores are optimistic).</p>"
        )
        parts.append(_table(["group", *leak["splits"]], [[g, *leak["group_counts"][g]] for g in shared]))
    else:
        parts.append('<p class="ok">No group (sequence/video) has frames on both sides of the split.</p>')
    dups = leak["near_duplicates"]
    rule = f"dHash, 64 bits, Hamming distance ≤ {leak['max_distance']}"
    if dups:
        parts.append(
            f'<p class="warn">{len(dups)} test frame(s) have a near-duplicate in train ({escape(rule)}).'
            f" Showing {len(pairs)}; all are listed in stats.json.</p>"
        )
        for p in pairs:
            figures = "".join(
                f"<figure>{_img(p[side + '_thumb'], side + ' ' + p[side + '_frame'], 'thumb')}"
                f"<figcaption>{side}: {escape(p[side + '_frame'])}</figcaption></figure>"
                for side in ("test", "train")
            )
            parts.append(f'<div class="pair"><div class="two">{figures}</div>distance {p["distance"]} bits</div>')
    elif len(leak["splits"]) >= 2:
        parts.append(f'<p class="ok">No near-duplicate frames across splits ({escape(rule)}).</p>')
    return "".join(parts)


def _overlays_section(sheets: list[tuple[str, str]]) -> str:
    if not sheets:
        return '<p class="muted">No frames.</p>'
    # Each sheet carries its own title (activity, frames shown of total), so it reads the same opened alone.
    intro = '<p class="muted">Masks blended in the label-map colours with outlines; ignore pixels in white.</p>'
    return intro + "".join(_img(src, "overlays: " + name) for name, src in sheets)


def render_html(
    meta: dict[str, Any],
    stats: dict[str, Any],
    figs: dict[str, str],
    leak: dict[str, Any],
    pairs: list[dict[str, Any]],
    sheets: list[tuple[str, str]],
) -> str:
    """The whole page; `sheets` are (activity name, relative path), `pairs` carry thumbnail paths."""
    splits = list(stats["splits"])
    sections = [
        ("counts", "Frames per split and activity", _counts_section(stats, splits, meta["activities"], figs)),
        ("classes", "Segmentation classes", _classes_section(stats, splits, meta["class_names"], figs)),
        ("groups", "Groups and image sizes", _groups_section(stats, splits, figs)),
        ("leakage", "Leakage between splits", _leakage_section(leak, pairs)),
        ("overlays", "Overlay contact sheets", _overlays_section(sheets)),
    ]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>' for key, title, html in sections)
    subtitle = (
        f"version {meta['version']} · split {meta['split']} · "
        + " · ".join(f"{s} {stats['splits'][s]['frames']}" for s in splits)
        + f" frames · {meta['tool']}"
    )
    title = f"{meta['dataset']} dataset report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f'<link rel="icon" href="data:,"><style>{CSS}</style></head><body>'
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>\n"
    )
