"""`endods export DATASET DEST`: the released EndoARSS folder layout or COCO, from a built dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import console, progress_bar, user_errors


def export_cmd(
    dataset: Path = typer.Argument(..., metavar="DATASET", help="A dataset folder written by `endods build`."),
    dest: Path = typer.Argument(..., metavar="DEST", help="Destination folder (written atomically)."),
    fmt: str = typer.Option(..., "--format", help="endoarss (released folder layout) or coco (RLE JSON + images)."),
    val_name: str = typer.Option(
        "test", help="Folder name of the test split in the endoarss layout (the original loader's val mode reads val/)."
    ),
    split: list[str] = typer.Option(
        None, "--only-split", help="Export only this split (repeatable; default: every split)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing DEST (only a previous export)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the integrity checks of DATASET (experts)."),
) -> None:
    """Export a built dataset for the original EndoARSS code (endoarss) or for COCO tools (coco)."""
    from endods.export import EXPORT_FORMATS, export_dataset

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}", param_hint="--format")
    with user_errors():
        with progress_bar() as progress:
            task = progress.add_task(f"exporting ({fmt})", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = export_dataset(dataset, dest, fmt, val_name, split or None, overwrite, on_progress, not no_verify)
    table = Table(title=f"{summary.dataset} {summary.version} → {fmt}")
    table.add_column("split")
    table.add_column("frames", justify="right")
    table.add_column("ignore pixels (frames)", justify="right")
    for name, n in summary.frames.items():
        table.add_row(name, str(n), f"{summary.ignore_pixels[name]} ({summary.ignore_frames[name]})")
    console.print(table)
    if any(summary.ignore_pixels.values()):
        where = "written as background (0)" if fmt == "endoarss" else "left out of every annotation"
        console.print(
            f"[yellow]note:[/] ignore pixels (255) have no place in this format: {escape(where)}", highlight=False
        )
    for note in summary.notes:
        console.print(note, highlight=False)
    console.print(f"written to [bold]{escape(str(summary.dest))}[/]")


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
