"""`endods demo`: the whole pipeline on an embedded synthetic default, end to end on a CPU.

It calls the same command functions a user would type, so the demo shows exactly their output.
It writes a marker file into --out first, and later replaces only a folder that holds that marker.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import typer

from cli.common import console, user_errors

MARKER = ".endods-demo"  # written first into --out, so even a half-finished demo output is recognised

# A tiny random DINOv2 (no download) with the full EndoARSS recipe: SMA + TESLA + DB-MTL. Measured on the
# demo's synthetic data (6 sequences x 13 frames): 24 epochs reach test miou_fg ~0.77 and ac ~0.53 (12
# activities, chance 0.083) in ~90 s of training on 2 idle cores. sma_dim 4 and 64 head channels halve
# the step time of the defaults; batch 4 with lr 5e-3 (cosine) gives Adam enough steps to learn in time.
DEMO_TRAINING = [
    "backbone_size=tiny",
    "image_size=[112,112]",
    "epochs=24",
    "batch_size=4",
    "eval_batch_size=8",
    "eval_every=6",
    "num_workers=0",
    "lr=5e-3",
    "scheduler=cosine",
    "sma_dim=4",
    "arch_kwargs.head_channels=64",
    "seed=0",
    "weights=random",  # no download: the demo shows the stack trains, not pretrained accuracy
]
DEMO_SOURCES = {"sequences": 6, "frames": 13}  # 13 frames = one pass over every synthetic scenario


@dataclass(frozen=True)
class DemoPaths:
    """Where each demo step writes, under --out."""

    out: Path

    @property
    def sources(self) -> Path:
        return self.out / "sources"

    @property
    def dataset(self) -> Path:
        return self.out / "mtlendovis"

    @property
    def report(self) -> Path:
        return self.out / "report"

    @property
    def run(self) -> Path:
        return self.out / "run"

    @property
    def predictions(self) -> Path:
        return self.out / "predictions"


def demo_cmd(
    out: Path = typer.Option(
        Path("demo-out"), "--out", help="Folder for everything the demo writes (a previous demo output is replaced)."
    ),
    seed: int = typer.Option(0, help="Seed of the synthetic sources and the split."),
) -> None:
    """Synthetic sources -> build -> validate -> report -> tiny CPU training -> eval -> predict."""
    with user_errors():
        out = prepare_out(out)
    paths = DemoPaths(out)
    make_dataset(paths, seed)
    with user_errors():
        before = untrained_metrics(paths.dataset)
    train_and_evaluate(paths)
    print_before_after(before, paths.run / "eval.json")
    print_where_to_look(paths)


def make_dataset(paths: DemoPaths, seed: int) -> None:
    """Steps 1-4: synthetic sources, build, validate, report."""
    from cli.build import run_build
    from cli.report import report_cmd
    from cli.validate import validate_cmd
    from endods.build import BuildOptions, build_mtlendovis
    from endods.split import SplitConfig
    from endods.synth import synth_endovis18

    console.rule("[bold]1/7 synthetic sources in the EndoVis18 + ISINet + VQLA-18 layouts")
    with user_errors():
        synth = synth_endovis18(paths.sources, seed=seed, **DEMO_SOURCES)
    console.print(f"{len(synth.frames) + len(synth.dropped)} frames under {paths.sources}", markup=False)

    console.rule("[bold]2/7 build MTLEndovis")
    options = BuildOptions(split=SplitConfig("paper", 0.2, seed), workers=2)
    run_build(build_mtlendovis, paths.dataset, src=paths.sources, options=options)

    console.rule("[bold]3/7 validate")
    validate_cmd(paths.dataset, as_json=False)

    console.rule("[bold]4/7 report")
    report_cmd(paths.dataset, report_dir=paths.report, max_distance=6, overlays=12)


def train_and_evaluate(paths: DemoPaths) -> None:
    """Steps 5-7: tiny CPU training, evaluation and prediction of the test split."""
    from cli.train import eval_cmd, predict_cmd, train_cmd

    data, run = str(paths.dataset), paths.run
    console.rule("[bold]5/7 train a tiny EndoARSS (DINOv2 + SMA + TESLA + DB-MTL) on the CPU")
    train_cmd(DEMO_TRAINING, data=data, preset="endoarss", out=run, resume=False, list_presets=False)

    console.rule("[bold]6/7 evaluate on the test split")
    eval_cmd(run, data=data, split="test", compat=False, checkpoint="best", as_json=False, weights=None, limit=None)

    console.rule("[bold]7/7 predict the test split (ready for `labelstudio export --predictions`)")
    predict_cmd(run, None, out=paths.predictions, checkpoint="best", weights=None, data=data, split="test", limit=None)


def print_where_to_look(paths: DemoPaths) -> None:
    """The files the demo wrote, and the command that reviews its predictions in Label Studio."""
    dataset, run = paths.dataset, paths.run
    console.rule("[bold]where to look")
    for label, path in [
        ("dataset (load_dataset)", dataset),
        ("manifest", dataset / "manifest.json"),
        ("dataset card", dataset / "README.md"),
        ("report", paths.report / "report.html"),
        ("training run", run),
        ("metrics per epoch", run / "metrics.jsonl"),
        ("evaluation", run / "eval.json"),
        ("predictions", paths.predictions),
        ("review in Label Studio", f"endods labelstudio export {dataset} --predictions {paths.predictions}"),
    ]:
        console.print(f"  {label:<24} {path}", highlight=False, markup=False)
    console.print(
        "Note: synthetic data and a tiny random-backbone model: the metrics show the stack learns, not the paper's numbers."
    )


def untrained_metrics(dataset: Path) -> dict:
    """Test metrics of the demo model before training: built exactly as training builds it (same seed)."""
    from endoarss.config import build_config
    from endoarss.data.dataset import open_split
    from endoarss.engine.run_folder import build_model
    from endoarss.inference.evaluate import evaluate_model

    split = open_split(dataset, "test")
    cfg = build_config("endoarss", DEMO_TRAINING).resolved(split.dataset)
    model = build_model(cfg, split.labelmap)
    return evaluate_model(model, split, cfg.image_size, cfg.eval_batch_size, 0)


def print_before_after(before: dict, eval_file: Path) -> None:
    """Final summary: test metrics of the untrained and the trained model, with activity chance level."""
    import json

    from rich.table import Table

    after = json.loads(eval_file.read_text())["metrics"]
    present = sum(1 for row in before["confusion_activity"] if sum(row))
    table = Table(title="test split: before vs after training")
    for col in ("metric", "untrained", "trained"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for key in ("ac", "f1", "miou_fg", "miou", "dice_fg"):
        table.add_row(key, *(f"{m[key]:.4f}" if m.get(key) is not None else "n/a" for m in (before, after)))
    console.print(table)
    console.print(f"activity chance level: 1/{present} = {1 / max(present, 1):.4f}", highlight=False, markup=False)


def prepare_out(out: Path) -> Path:
    """Empty ``out`` if it is a previous demo output (or create it) and mark it; refuse any other folder."""
    from schemas.outputs import OutputKind, check_output

    # The shared output policy: never the current folder, root or a mount; only a folder with our marker.
    path = check_output(out, OutputKind("endods demo", MARKER, needs_overwrite=False))
    if path.is_dir() and any(path.iterdir()):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("written by `endods demo`; the next demo with this --out replaces this folder\n")
    return out.expanduser()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
