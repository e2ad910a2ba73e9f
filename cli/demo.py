"""`endods demo`: the whole pipeline on an embedded synthetic default, end to end on a CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from cli.build import summarize
from cli.common import console, progress_bar, user_errors


def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for everything the demo writes (replaced)."),
    seed: int = typer.Option(0, help="Seed of the synthetic sources and the split."),
) -> None:
    """Synthetic EndoVis18 sources -> MTLEndovis build -> validate -> summary of where to look."""
    from endods.build import BuildOptions, build_mtlendovis
    from endods.split import SplitConfig
    from endods.synth import synth_endovis18
    from endods.validate import validate_dataset

    with user_errors():
        if out.exists():
            shutil.rmtree(out)
        src, dataset = out / "sources", out / "mtlendovis"
        console.rule("[bold]1/3 synthetic sources (EndoVis18 + ISINet + VQLA-18 layouts)")
        report = synth_endovis18(src, sequences=4, frames=10, seed=seed)
        console.print(f"wrote {len(report.frames) + len(report.dropped)} frames to {src}")
        console.rule("[bold]2/3 build MTLEndovis")
        with progress_bar() as progress:
            task = progress.add_task("encoding frames", total=None)
            manifest = build_mtlendovis(
                src,
                dataset,
                BuildOptions(split=SplitConfig("paper", 0.2, seed), workers=2),
                on_progress=lambda d, t: progress.update(task, completed=d, total=t),
            )
        summarize(manifest, dataset)
        console.rule("[bold]3/3 validate")
        problems = validate_dataset(dataset)
        if problems:
            for p in problems:
                console.print(f"  - {p}")
            raise typer.Exit(1)
        console.print(f"[green]{dataset} is valid[/] (version {manifest.version})")
    console.rule("[bold]where to look")
    console.print(f"  dataset:  {dataset}  (datasets.load_dataset('{dataset}'))")
    console.print(f"  manifest: {dataset / 'manifest.json'}")
    console.print(f"  card:     {dataset / 'README.md'}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
