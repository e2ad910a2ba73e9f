"""Robustness plots (matplotlib, Agg backend, imported lazily so the library never needs a display).

Metric vs severity per family (the paper's Figure 6), mean per corruption as bars (Table VII), and a
gallery of one frame under every corruption at the benchmarked severities (at most three; what the model was fed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from endoarss.robustness.corruptions import CORRUPTIONS

if TYPE_CHECKING:
    from endoarss.robustness.results import RobustnessResult

FAMILY_COLORS = {"noise": "tab:blue", "blur": "tab:orange", "occlusion": "tab:red", "digital": "tab:green"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scale(metric: str) -> tuple[float, str]:
    from endoarss.robustness.results import unit

    label = unit(metric)
    return (100.0, f"{metric} (%)") if label == "%" else (1.0, f"{metric} ({label})" if label else metric)


def plot_severity(result: RobustnessResult, metric: str, path: Path) -> None:
    """Family means and the overall mean vs severity; severity 0 is the clean baseline."""
    plt = _pyplot()
    summary = result.summary[metric]
    factor, label = _scale(metric)
    xs = [0, *result.severities]
    fig, ax = plt.subplots(figsize=(6, 4))
    for family, values in summary["families"].items():
        ys = [summary["clean"], *(values[s] for s in result.severities)]
        ax.plot(xs, np.asarray(ys, float) * factor, marker="o", color=FAMILY_COLORS.get(family), label=family)
    overall = [summary["clean"], *(summary["overall"][s] for s in result.severities)]
    ax.plot(xs, np.asarray(overall, float) * factor, marker="s", color="black", linewidth=2.5, label="mean")
    ax.set_xticks(xs, ["clean", *map(str, result.severities)])
    ax.set_xlabel("severity")
    ax.set_ylabel(label)
    ax.set_title(f"{metric} vs corruption severity ({result.mode})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_corruptions(result: RobustnessResult, metric: str, path: Path) -> None:
    """One bar per corruption (mean over severities), coloured by family; dashed line = clean."""
    plt = _pyplot()
    summary = result.summary[metric]
    factor, label = _scale(metric)
    names = [n for n in CORRUPTIONS if n in summary["corruptions"]]
    values = np.asarray([summary["corruptions"][n]["mean"] for n in names], float) * factor
    families = [CORRUPTIONS[n] for n in names]
    colors = [FAMILY_COLORS.get(f, "grey") for f in families]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) + 2), 4))
    ax.bar(range(len(names)), np.nan_to_num(values), color=colors)
    ax.axhline(float(summary["clean"]) * factor, color="black", linestyle="--", linewidth=1, label="clean")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(label)
    ax.set_title(f"{metric}: mean over severities {', '.join(map(str, result.severities))} ({result.mode})")
    labels = [f for f in FAMILY_COLORS if f in families]
    handles = [plt.Rectangle((0, 0), 1, 1, color=FAMILY_COLORS[f]) for f in labels]
    ax.legend([*handles, ax.lines[0]], [*labels, "clean"], fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gallery(shots: dict[tuple[str, int], np.ndarray], path: Path) -> None:
    """Rows = corruptions, columns = clean + each severity in ``shots``; every cell labelled."""
    plt = _pyplot()
    clean = next(image for (name, _), image in shots.items() if name == "clean")
    names = list(dict.fromkeys(name for name, _ in shots if name != "clean"))
    severities = sorted({s for name, s in shots if name != "clean"})
    cols = 1 + len(severities)
    height, width = clean.shape[:2]
    cell = 1.6
    title_inches = 0.35  # room above the first row for the column titles (a fraction alone cut them off)
    fig_height = title_inches + 0.1 + len(names) * cell
    fig, axes = plt.subplots(
        len(names),
        cols,
        figsize=(1.4 + cols * cell * max(width / height, 0.5), fig_height),
        squeeze=False,
        gridspec_kw={
            "left": 1.3 / (1.4 + cols * cell * max(width / height, 0.5)),
            "right": 0.99,
            "top": 1 - title_inches / fig_height,
            "bottom": 0.01,
            "wspace": 0.04,
            "hspace": 0.08,
        },
    )
    for r, name in enumerate(names):
        for c, image in enumerate([clean, *(shots[(name, s)] for s in severities)]):
            ax = axes[r][c]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("clean" if c == 0 else f"severity {severities[c - 1]}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    fig.savefig(path, dpi=100)
    plt.close(fig)
