"""Report plots as PNG files (matplotlib's object API on the Agg canvas: no pyplot state, no display).

Every plot shows the splits side by side, because what a user checks is whether train and test look
alike (activity shares, class shares) and whether something is missing from one side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from endods.report.leakage import shared_groups
from endods.report.stats import Collected

SPLIT_COLORS = {"train": "#4c72b0", "test": "#dd8452"}
DPI = 100


def _save(fig: Figure, path: Path) -> str:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return path.name


def _finish(ax: Axes, integer: bool) -> None:
    """Legend outside the plot (it must never hide a bar); whole-number ticks for frame counts."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    if integer:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _grouped_barh(
    labels: list[str],
    values: dict[str, list[float]],
    title: str,
    xlabel: str,
    path: Path,
    fmt: str = "{:g}",
    integer: bool = True,
) -> str:
    """Horizontal bars, one per split per label; the value printed at each bar's end."""
    n, k = len(labels), max(1, len(values))
    fig = Figure(figsize=(8, 0.9 + 0.32 * n * k))
    ax = fig.subplots()
    height = 0.8 / k
    y = np.arange(n)
    top = max((v for vals in values.values() for v in vals), default=0) or 1
    for i, (split, vals) in enumerate(values.items()):
        pos = y + (i - (k - 1) / 2) * height
        ax.barh(pos, vals, height=height, label=split, color=SPLIT_COLORS.get(split, None))
        for p, v in zip(pos, vals, strict=True):
            ax.text(v + top * 0.01, p, fmt.format(v), va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    _finish(ax, integer)
    return _save(fig, path)


def activity_counts(data: Collected, folder: Path) -> str:
    values = {s: [float(v) for v in data.activity_counts[s]] for s in data.splits}
    return _grouped_barh(data.activities, values, "Frames per activity", "frames", folder / "activity_counts.png")


def class_pixel_share(data: Collected, folder: Path) -> str:
    """Share of the labelled instrument pixels (background left out: it would dwarf every class)."""
    values = {}
    for s in data.splits:
        fg = data.class_pixels[s][1:].astype(float)
        values[s] = list(100 * fg / fg.sum()) if fg.sum() else [0.0] * len(fg)
    return _grouped_barh(
        data.class_names[1:],
        values,
        "Instrument pixel share per class (background excluded)",
        "% of instrument pixels",
        folder / "class_pixel_share.png",
        "{:.1f}",
        integer=False,
    )


def class_image_frequency(data: Collected, folder: Path) -> str:
    values = {s: list(100 * data.class_images[s][1:] / max(1, data.frames[s])) for s in data.splits}
    return _grouped_barh(
        data.class_names[1:],
        values,
        "Images showing each class",
        "% of the split's images",
        folder / "class_image_frequency.png",
        "{:.0f}",
        integer=False,
    )


def cooccurrence(data: Collected, folder: Path) -> str:
    """Activity x class: the share of an activity's frames in which the class appears (counts printed)."""
    assert data.cooccurrence is not None
    counts = data.cooccurrence[:, 1:]
    per_activity = np.array([sum(data.activity_counts[s][a] for s in data.splits) for a in range(len(data.activities))])
    share = counts / np.maximum(per_activity, 1)[:, None]
    fig = Figure(figsize=(1.6 + 1.1 * counts.shape[1], 1.4 + 0.4 * counts.shape[0]))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (a, c), n in np.ndenumerate(counts):
        ax.text(c, a, str(n), ha="center", va="center", fontsize=8, color="white" if share[a, c] > 0.6 else "black")
    ax.set_xticks(range(counts.shape[1]), data.class_names[1:], rotation=30, ha="right")
    ax.set_yticks(range(len(data.activities)), [f"{n} ({per_activity[i]})" for i, n in enumerate(data.activities)])
    ax.set_title("Activity × class co-occurrence (frames; colour = share of the activity's frames)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _save(fig, folder / "cooccurrence.png")


def groups(data: Collected, folder: Path) -> str:
    """Stacked frames per group: a group with two colours is on both sides of the split."""
    names = list(data.groups)
    shared = set(shared_groups(data.groups))
    fig = Figure(figsize=(8, 1.0 + 0.28 * len(names)))
    ax = fig.subplots()
    left = np.zeros(len(names))
    for s in data.splits:
        vals = np.array([data.groups[g].get(s, 0) for g in names], float)
        ax.barh(names, vals, left=left, label=s, color=SPLIT_COLORS.get(s))
        left += vals
    ax.invert_yaxis()
    for label in ax.get_yticklabels():
        if label.get_text() in shared:
            label.set_color("#b02a37")
            label.set_fontweight("bold")
    ax.set_xlabel("frames")
    ax.set_title("Frames per group and split (red: group on both sides)")
    _finish(ax, integer=True)
    return _save(fig, folder / "groups.png")


def image_sizes(data: Collected, folder: Path) -> str:
    sizes = sorted({size for s in data.splits for size in data.sizes[s]})
    values = {s: [float(data.sizes[s].get(size, 0)) for size in sizes] for s in data.splits}
    return _grouped_barh(sizes, values, "Image sizes (width x height)", "frames", folder / "image_sizes.png")


def write_figures(data: Collected, folder: Path) -> dict[str, str]:
    """All figures; returns {key: file name relative to `folder`}."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "activity_counts": activity_counts(data, folder),
        "class_pixel_share": class_pixel_share(data, folder),
        "class_image_frequency": class_image_frequency(data, folder),
        "cooccurrence": cooccurrence(data, folder),
        "groups": groups(data, folder),
        "image_sizes": image_sizes(data, folder),
    }
