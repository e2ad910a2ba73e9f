"""`endods report OUT`: stats, plots, overlay contact sheets and the leakage check of a built dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cli.common import console, progress_bar, user_errors
from endods.report.leakage import DEFAULT_MAX_DISTANCE
from endods.text import plural


def report_cmd(
    dataset: Path = typer.Argument(..., metavar="DATASET", help="A dataset folder written by `endods build`."),
    report_dir: Path = typer.Option(
        None, "--out", help="Report folder (default: DATASET-report next to DATASET; an old report there is replaced)."
    ),
    max_distance: int = typer.Option(
        DEFAULT_MAX_DISTANCE, help="Near-duplicate threshold: dHash bits (of 64) that may differ."
    ),
    overlays: int = typer.Option(12, min=0, help="Frames per activity on each overlay contact sheet."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the integrity checks of OUT (experts)."),
) -> None:
    """Write report.html (opens offline), stats.json, figures and overlay contact sheets."""
    from endods.report import build_report

    with user_errors():
        with progress_bar() as progress:
            task = progress.add_task("reading frames", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = build_report(dataset, report_dir, max_distance, overlays, on_progress, verify=not no_verify)
    frames = ", ".join(f"{n} {s}" for s, n in summary.frames.items())
    console.print(f"report of {frames} frames written to [bold]{escape(str(summary.html))}[/]")
    if summary.shared_groups:
        console.print(
            f"[yellow]leakage:[/] {plural(len(summary.shared_groups), 'group')} on both sides of the split: "
            + ", ".join(summary.shared_groups[:10])
            + (" …" if len(summary.shared_groups) > 10 else ""),
            highlight=False,
        )
    if summary.near_duplicates:
        console.print(
            f"[yellow]leakage:[/] {plural(len(summary.near_duplicates), 'test frame')} with a near-duplicate in train "
            "(see the report's leakage section)",
            highlight=False,
        )
    if not summary.shared_groups and not summary.near_duplicates:
        console.print("[green]no leakage found[/] (no shared groups, no near-duplicate frames across splits)")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
