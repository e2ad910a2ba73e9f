"""`endods validate DATASET`: re-open a built dataset and check it against the contract."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from cli.common import console, err_console, progress_bar, user_errors
from endods.text import plural


def validate_cmd(
    out: Path = typer.Argument(..., metavar="DATASET", help="A dataset folder written by `endods build`."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check schema, mask values, sizes, split disjointness and manifest hashes; exit 1 on problems."""
    from endods.validate import validate_dataset

    with user_errors():
        if as_json:
            problems = validate_dataset(out)
        else:
            with progress_bar() as progress:
                task = progress.add_task("validating", total=None)
                problems = validate_dataset(out, lambda d, t: progress.update(task, completed=d, total=t))
    if as_json:
        console.print_json(json.dumps({"valid": not problems, "problems": [p.to_dict() for p in problems]}))
    elif problems:
        err_console.print(f"[bold red]{plural(len(problems), 'problem')} in {escape(str(out))}:")
        for p in problems:
            err_console.print(f"  - {p}", highlight=False, markup=False)
    else:
        console.print(f"[green]{escape(str(out))} is valid.")
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
