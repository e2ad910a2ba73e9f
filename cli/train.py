"""`endods train`, `endods eval`, `endods predict`: the model side of the toolkit.

Heavy imports (torch, accelerate, datasets) happen inside the commands so `endods --help` stays fast.
Under `accelerate launch` every rank runs the command; only the main process draws and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cli.common import SPLIT_HELP, console, err_console, progress_bar, user_errors
from endods.text import plural


def _list_presets() -> None:
    from endoarss.config import PRESETS, describe_preset

    table = Table(title="Training presets")
    table.add_column("preset", style="bold")
    table.add_column("model")
    for name in PRESETS:
        table.add_row(name, describe_preset(name))
    console.print(table)


def _list_presets_and_exit(value: bool) -> None:
    """Eager: runs before the required --data/--out are checked, so `train --list-presets` needs neither."""
    if value:
        _list_presets()
        raise typer.Exit()


def train_cmd(
    overrides: list[str] = typer.Argument(None, help="Config overrides key=value, e.g. lr=1e-4 epochs=50."),
    data: str = typer.Option(..., "--data", help="Built dataset folder or Hub dataset id."),
    preset: str = typer.Option("endoarss", "--preset", help="Named configuration (see --list-presets)."),
    out: Path = typer.Option(..., "--out", help="RUN folder to create (or continue with --resume)."),
    resume: bool = typer.Option(False, "--resume", help="Continue RUN from its last checkpoint."),
    list_presets: bool = typer.Option(
        False, "--list-presets", help="Show the presets and exit.", is_eager=True, callback=_list_presets_and_exit
    ),
) -> None:
    """Train a multi-task model on a built dataset into a RUN folder.

    The DataLoader worker count is the config key `num_workers=` (an override), not an option.
    """
    with user_errors():
        from endoarss.config import TrainConfig, apply_overrides, build_config
        from endoarss.engine.run_folder import check_run_folder, check_weights
        from endoarss.engine.trainer import train

        check_run_folder(out, resume, data)  # --resume without a checkpoint, an --out that is a file: fail now
        if resume:
            cfg = apply_overrides(TrainConfig.load(out / "config.yaml"), overrides or [])
        else:
            cfg = build_config(preset, overrides or [])
        backbone = check_weights(cfg.weights, cfg.backbone, cfg.backbone_size)  # fails here, before any data work
        console.print(backbone.describe(), highlight=False, markup=False)
        if backbone.warning():
            err_console.print(f"[yellow]warning:[/] {backbone.warning()}", highlight=False)
        with _TrainProgress() as bar:
            summary = train(cfg, data, out, resume=resume, on_progress=bar.update)
        if bar.main:
            best = summary["best_value"]
            best_text = "n/a" if best is None else f"{best:.4f} (epoch {summary['best_epoch'] + 1})"
            console.print(f"[green]done[/] {summary['global_step']} steps; best {summary['best_metric']} {best_text}")
            console.print(f"RUN: {out}", highlight=False, markup=False)


class _TrainProgress:
    """Rich bar over optimizer steps with the live per-task losses; silent on non-main ranks."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=err_console,
        )
        self.task = None
        self.main = True

    def __enter__(self) -> _TrainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def update(self, event) -> None:  # endoarss.engine.trainer.TrainEvent
        self.main = event.is_main
        if not event.is_main:
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("train", total=event.total_steps, losses="")
        losses = " ".join(f"{t}={v:.3f}" for t, v in event.losses.items())
        if event.kind == "step":  # epochs are 0-based in metrics.jsonl, shown 1-based here
            desc = f"epoch {event.epoch + 1}"
            self.progress.update(self.task, completed=event.global_step, description=desc, losses=losses)
        if event.kind == "epoch" and event.metrics:
            shown = {k: event.metrics[k] for k in ("ac", "f1", "miou", "dice") if k in event.metrics}
            text = " ".join(f"{k}={v:.4f}" for k, v in shown.items() if v is not None)
            self.progress.console.print(f"epoch {event.epoch + 1}: {losses}  eval: {text}", highlight=False)


def eval_cmd(
    run: Path = typer.Argument(..., exists=True, file_okay=False, help="RUN folder written by `endods train`."),
    data: str = typer.Option(..., "--data", help="Built dataset folder or Hub dataset id."),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    compat: bool = typer.Option(False, "--compat", help="The paper release's metric definitions."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best or last."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON to stdout instead of tables."),
    weights: str = typer.Option(None, "--weights", help="Pretrained backbone location, if moved."),
    limit: int = typer.Option(None, "--limit", min=1, help="Evaluate only the first N frames of the split."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the dataset integrity checks (experts)."),
) -> None:
    """Evaluate RUN on a dataset split; writes RUN/eval/<dataset>-<version>-<split>[-compat].json.

    RUN/eval.json is a copy of the latest evaluation (+ the activity confusion PNG).
    """
    with user_errors(), progress_bar() as bar:
        from endoarss.inference.evaluate import evaluate_run

        if as_json:  # stdout carries only the JSON; no bar either
            bar.stop()
        task = bar.add_task(f"eval {split}", total=None)
        result = evaluate_run(
            run,
            data,
            split,
            compat,
            checkpoint,
            weights=weights,
            limit=limit,
            verify=not no_verify,
            on_progress=None if as_json else lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(
        title=escape(f"{result['dataset']} [{split}] - {result['mode']} metrics"),
        caption=escape(f"{plural(result['frames'], 'frame')}; written to {result['file']}"),
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result["metrics"].items():
        table.add_row(key, "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    if result["per_class"]:
        per = Table(title="per class")
        for col in ("class", "IoU", "Dice"):
            per.add_column(col, justify="left" if col == "class" else "right")
        for name, vals in result["per_class"].items():
            per.add_row(name, *("n/a" if v is None else f"{v:.4f}" for v in (vals["iou"], vals["dice"])))
        console.print(per)
    console.print(f"wrote {result['file']} (latest also in {run / 'eval.json'})", highlight=False, markup=False)


def predict_cmd(
    run: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="RUN folder written by `endods train`.")],
    images: Annotated[
        list[Path] | None, typer.Argument(exists=True, dir_okay=False, help="Image files (or use --data).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder: masks/, overlays/, activities.csv.")] = ...,  # type: ignore[assignment]
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="best or last.")] = "best",
    weights: Annotated[str | None, typer.Option("--weights", help="Pretrained backbone location, if moved.")] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Built dataset folder or Hub id: predict its frames instead of IMAGES."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help=SPLIT_HELP + " With --data.")] = "test",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="With --data: only the first N frames.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out that is not a prediction folder.")
    ] = False,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it; `endods demo` calls without
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="With --data: skip the dataset integrity checks (experts).")
    ] = False,
) -> None:
    """Predict masks and activities for IMAGES, or for a dataset split with --data.

    With --data, outputs are named by frame id (seq_3/frame042 -> seq_3__frame042), so the folder feeds
    `endods labelstudio export OUT --split SPLIT --predictions DIR` directly. --out is replaced as a whole.
    """
    if bool(images) == (data is not None):
        why = "not both" if images else "one of them is required"
        raise typer.BadParameter(f"give IMAGES or --data OUT ({why})", param_hint="IMAGES/--data")
    split_given = ctx is not None and ctx.get_parameter_source("split").name != "DEFAULT"
    if data is None and (split_given or limit is not None):
        raise typer.BadParameter("--split and --limit need --data", param_hint="--split/--limit")
    with user_errors():
        from endoarss.inference.predict import predict, predict_split

        with progress_bar() as bar:  # drawn at the first frame: an early error shows no empty bar
            task = bar.add_task("predict", total=len(images) if images else None)

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if data is not None:
                options = {
                    "checkpoint": checkpoint,
                    "weights": weights,
                    "limit": limit,
                    "overwrite": overwrite,
                    "verify": not no_verify,
                }
                predict_split(run, data, split, out=out, on_progress=step, **options)
            else:
                predict(run, images or [], out, checkpoint, weights=weights, on_progress=step, overwrite=overwrite)
    console.print(f"[green]wrote[/] {escape(str(out))}", highlight=False)
    if data is not None and Path(data).is_dir():
        console.print(
            f"review: endods labelstudio export {data} --split {split} --predictions {out}",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("eval")(eval_cmd)
    app.command("predict")(predict_cmd)
