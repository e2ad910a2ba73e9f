"""`endods sources ROOT`: what a build would find under ROOT, before a long build.

Per source: the folder, the layout recognised, counts of frames, labels and masks, the ISINet id
table in use and what is missing (README "Getting the data"). Exit 1 where a build would fail.
The builds print the same summary at their start (`print_sources`).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import console, err_console
from endods.sources.summary import SourcesSummary

DATASETS = ("mtlendovis", "mtlendovis-gen")


def print_sources(summary: SourcesSummary) -> None:
    """One table per dataset: source, folder, layout, counts, notes; then the verdict."""
    table = Table(title=f"{summary.dataset} sources", title_justify="left")
    for column in ("source", "folder", "layout", "found", "notes"):
        table.add_column(column, overflow="fold")
    for entry in summary.entries:
        counts = ", ".join(f"{n} {what}" for what, n in entry.counts.items())
        folder = escape(str(entry.folder)) if entry.folder is not None else "[red]missing[/]"
        table.add_row(entry.name, folder, escape(entry.layout), counts, escape("; ".join(entry.notes)))
    console.print(table)
    if summary.ok:
        dropped = ", ".join(f"{n} {r}" for r, n in summary.dropped.items())
        console.print(f"{summary.frames} frames to build" + (f"; would drop {dropped}" if dropped else ""))
    else:
        err_console.print(f"[bold red]a build would fail:[/] {escape(summary.problem or '')}", soft_wrap=True)


def sources_cmd(
    root: Path = typer.Argument(..., help="Folder holding the downloads side by side (as for build --src)."),
    dataset: str = typer.Option(
        "all", "--dataset", help="mtlendovis, mtlendovis-gen, or all (those whose sources are partly present)."
    ),
) -> None:
    """Check the downloads under ROOT: what each build would read, and what is missing."""
    from endods.sources.summary import summarize_mtlendovis, summarize_mtlendovis_gen

    if dataset not in (*DATASETS, "all"):
        raise typer.BadParameter(f"choose one of {', '.join(DATASETS)} or all, got {dataset!r}", param_hint="--dataset")
    summaries = []
    for name, fn in (("mtlendovis", summarize_mtlendovis), ("mtlendovis-gen", summarize_mtlendovis_gen)):
        if dataset in (name, "all"):
            summaries.append(fn(root))
    if dataset == "all":
        present = [s for s in summaries if any(e.folder is not None for e in s.entries)]
        summaries = present or summaries
    for summary in summaries:
        print_sources(summary)
    if not all(s.ok for s in summaries):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sources")(sources_cmd)
