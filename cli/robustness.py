"""`endods robustness RUN --data OUT`: the paper's robustness benchmark (19 corruptions x 5 severities).

Writes RUN/robustness/ (or --out): robustness.csv/.json/.md, severity_<metric>.png,
corruptions_<metric>.png and gallery.png; prints the family means per severity. An existing --out
is replaced only if it is a previous robustness output (or with --overwrite).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import SPLIT_HELP, console, progress_bar, user_errors
from endoarss.config.choices import AT_MODES
from endods.text import plural

if TYPE_CHECKING:
    from endoarss.robustness.results import RobustnessResult

AtMode = Literal[AT_MODES]  # type: ignore[valid-type]  # typer lists and checks the choices


def robustness_cmd(
    run: Path = typer.Argument(..., exists=True, file_okay=False, help="RUN folder written by `endods train`."),
    data: str = typer.Option(..., "--data", help="Built dataset folder or Hub dataset id."),
    corruptions: str = typer.Option("all", "--corruptions", help="Comma-separated names (default: all 19)."),
    severities: str = typer.Option("1-5", "--severities", help="Severities: a range 1-5 or a list 1,3,5."),
    limit: int = typer.Option(None, "--limit", min=1, help="Use only the first N frames of the split."),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    at: AtMode = typer.Option("input", "--at", help="input: corrupt at the model input size; native: stored size."),
    out: Path = typer.Option(
        None, "--out", help="Output folder (default RUN/robustness); a previous robustness output there is replaced."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out that holds other files."),
    compat: bool = typer.Option(False, "--compat", help="The paper release's metric definitions."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random corruptions."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best or last."),
    workers: int = typer.Option(None, "--workers", min=0, help="Parallel DataLoader workers (default: the run's)."),
    weights: str = typer.Option(None, "--weights", help="Pretrained backbone location, if moved."),
) -> None:
    """Evaluate RUN on a split under 19 corruptions x 5 severities (paper §IV-C5); tables and plots."""
    with user_errors():
        from endoarss.robustness.benchmark import run_robustness

        names, levels = _parsed_options(corruptions, severities)
        with progress_bar() as bar:
            task = bar.add_task("robustness", total=None)
            result = run_robustness(
                run,
                data,
                corruptions=names,
                severities=levels,
                limit=limit,
                split=split,
                at=at,
                seed=seed,
                num_workers=workers,
                compat=compat,
                checkpoint=checkpoint,
                weights=weights,
                out=out,
                overwrite=overwrite,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    _print_overall(result)
    console.print(f"[green]wrote[/] {len(result.files)} files to {escape(str(result.out))}", highlight=False)
    for name in ("robustness.md", "robustness.csv", "robustness.json", "gallery.png"):
        console.print(f"  {result.out / name}", highlight=False, markup=False)


def _parsed_options(corruptions: str | None, severities: str) -> tuple[list[str], list[int]]:
    """--corruptions and --severities as lists; a bad value is a usage error naming its option."""
    from endoarss.errors import EndoarssError
    from endoarss.robustness.benchmark import parse_corruptions, parse_severities

    try:
        names = parse_corruptions(corruptions)
    except EndoarssError as exc:
        raise typer.BadParameter(str(exc), param_hint="--corruptions") from None
    try:
        levels = parse_severities(severities)
    except EndoarssError as exc:
        raise typer.BadParameter(str(exc), param_hint="--severities") from None
    return names, levels


def _print_overall(result: RobustnessResult) -> None:
    from endoarss.robustness.results import fmt, unit

    info = result.info
    title = escape(
        f"{info['dataset']} [{info['split']}], {plural(info['frames'], 'frame')}, corrupted at {info['at']} - "
        f"{result.mode} metrics, family means per severity"
    )
    table = Table(title=title)
    for col in ("metric", "family", "clean", *map(str, result.severities), "mean"):
        label_column = col in ("metric", "family")
        table.add_column(col, justify="left" if label_column else "right", no_wrap=label_column)
    for metric in result.shown:
        summary = result.summary[metric]
        label = f"{metric} ({unit(metric)})" if unit(metric) else metric
        groups = [*summary["families"].items(), ("all", summary["overall"])]
        for i, (family, values) in enumerate(groups):
            cells = [fmt(metric, values[s]) for s in result.severities]
            table.add_row(
                label if i == 0 else "",
                f"[bold]{family}[/]" if family == "all" else family,
                fmt(metric, summary["clean"]),
                *cells,
                fmt(metric, values["mean"]),
                end_section=i == len(groups) - 1,
            )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("robustness")(robustness_cmd)
