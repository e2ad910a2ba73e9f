"""`endods build ...`: turn public sources into a built dataset (Parquet + card + manifest)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import console, progress_bar, user_errors
from endods.errors import OptionError
from endods.split import SPLIT_MODES, SplitConfig

if TYPE_CHECKING:
    from schemas.manifest import Manifest

build_app = typer.Typer(
    help='Build a dataset from its public sources (layouts: "Getting the data" in the README; check with `endods sources ROOT`).',
    no_args_is_help=True,
)

SRC_HELP = "Folder holding the downloads side by side (endovis18/, isinet18/, EndoVis-18-VQA_extended/; check it with `endods sources`)."
SRC17_HELP = "Folder holding the downloads side by side (endovis17/, EndoVis-17-VQA_extended_final/)."
OUT_HELP = "Output folder of the built dataset (written atomically)."
WORKERS_HELP = "Parallel workers (threads: decoding and encoding release the GIL); any count gives the same bytes."
OVERWRITE_HELP = "Replace an existing --out."
STRICT_HELP = "Fail on damaged/incomplete frames instead of listing them as dropped."
SPLIT_MODE_HELP = f"Split mode: {', '.join(m for m in SPLIT_MODES if m != 'test-only')} (paper = random 4:1 per activity; group = by sequence/video, no leakage)."


def _split(mode: str, test_fraction: float, seed: int) -> SplitConfig:
    if mode not in ("paper", "group"):
        raise typer.BadParameter(f"--split-mode must be 'paper' or 'group', got {mode!r}")
    try:
        return SplitConfig(mode, test_fraction, seed)  # type: ignore[arg-type]
    except OptionError as exc:
        raise typer.BadParameter(str(exc), param_hint="--test-fraction") from None


def summarize(manifest: Manifest, out: Path) -> None:
    """The build summary: counts per split and activity, drops by reason, where the output is."""
    table = Table(title=f"{manifest.dataset} {manifest.version}")
    splits = list(manifest.counts)
    table.add_column("activity")
    for s in splits:
        table.add_column(s, justify="right")
    activities = manifest.label_maps["activities"]
    for name in activities:
        row = [str(manifest.counts[s].activities.get(name, 0)) for s in splits]
        if any(v != "0" for v in row):
            table.add_row(name, *row)
    table.add_row("[bold]total", *(f"[bold]{manifest.counts[s].frames}" for s in splits))
    console.print(table)
    if manifest.dropped:
        reasons = Counter(d.reason for d in manifest.dropped)
        console.print(
            "dropped: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) + " (listed in manifest.json)"
        )
    console.print(f"written to [bold]{escape(str(out))}[/] (validate with `endods validate {escape(str(out))}`)")


def run_build(fn: Callable[..., Manifest], out: Path, **kwargs: Any) -> None:
    """Run a builder with a progress bar, turn library errors into exit 1, print the summary.

    EndoVis builders first hand over what they found in the sources, printed as `endods sources` does.
    """
    from endods.writer import DATASET_OUTPUT
    from schemas.outputs import check_output

    overwrite = kwargs.get("overwrite", getattr(kwargs.get("options"), "overwrite", False))
    inputs = [v for v in kwargs.values() if isinstance(v, Path)]
    with user_errors():  # the output policy runs before any source is read
        check_output(out, DATASET_OUTPUT, overwrite=bool(overwrite), inputs=inputs)
    if fn.__name__ in ("build_mtlendovis", "build_mtlendovis_gen"):
        from cli.sources import print_sources

        kwargs["on_sources"] = print_sources
    with user_errors(), progress_bar() as progress:
        task = progress.add_task("encoding frames", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        manifest = fn(out=out, on_progress=on_progress, **kwargs)
    summarize(manifest, out)


@build_app.command("mtlendovis")
def build_mtlendovis_cmd(
    src: Path = typer.Option(None, "--src", help=SRC_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    endovis18: Path = typer.Option(None, help="EndoVis18 challenge release folder (overrides discovery)."),
    isinet18: Path = typer.Option(None, help="ISINet instrument types, organised form (overrides discovery)."),
    vqla18: Path = typer.Option(None, help="EndoVis-18-VQLA folder (overrides discovery)."),
    split: str = typer.Option("paper", "--split-mode", "--split", help=SPLIT_MODE_HELP),
    test_fraction: float = typer.Option(0.2, help="Fraction of frames in the test split."),
    seed: int = typer.Option(0, help="Seed of the split."),
    workers: int = typer.Option(1, "--workers", min=1, help=WORKERS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """MTLEndovis: EndoVis18 frames + ISINet instrument types + one activity per frame from VQLA-18."""
    from endods.build import BuildOptions, build_mtlendovis

    opts = BuildOptions(_split(split, test_fraction, seed), workers, overwrite, strict)
    run_build(build_mtlendovis, out, src=src, options=opts, endovis18=endovis18, isinet18=isinet18, vqla18=vqla18)


@build_app.command("mtlendovis-gen")
def build_mtlendovis_gen_cmd(
    src: Path = typer.Option(None, "--src", help=SRC17_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    endovis17: Path = typer.Option(None, help="EndoVis17 training data folder (overrides discovery)."),
    vqla17: Path = typer.Option(None, help="EndoVis-17-VQLA folder (overrides discovery)."),
    seed: int = typer.Option(0, help="Recorded for symmetry; the Gen set is test-only."),
    workers: int = typer.Option(1, "--workers", min=1, help=WORKERS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """MTLEndovis-Gen: EndoVis17 + VQLA-17 in the MTLEndovis label space, test split only."""
    from endods.build import BuildOptions, build_mtlendovis_gen

    opts = BuildOptions(SplitConfig("test-only", 0.2, seed), workers, overwrite, strict)
    run_build(build_mtlendovis_gen, out, src=src, options=opts, endovis17=endovis17, vqla17=vqla17)


@build_app.command("mtlesd")
def build_mtlesd_cmd(
    src: Path = typer.Option(..., "--src", help="ESD folder: videos/, phases.csv, annotations.json."),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    crop: str = typer.Option("307,35,1306,1009", help="Crop window x,y,w,h applied to 1920x1080 frames and masks."),
    activities: str = typer.Option(
        "marking,injection,submucosal_dissection", help="Phases kept as activities, in ClassLabel order."
    ),
    split: str = typer.Option("paper", "--split-mode", "--split", help=SPLIT_MODE_HELP),
    test_fraction: float = typer.Option(0.2, help="Fraction of frames in the test split."),
    seed: int = typer.Option(0, help="Seed of the split."),
    workers: int = typer.Option(1, "--workers", min=1, help=WORKERS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """MTLESD: frames cut from ESD videos at annotated phases, cropped, masks from COCO."""
    from endods.esd_build import build_mtlesd, parse_activities, parse_crop

    with user_errors():
        crop_box, acts = parse_crop(crop), parse_activities(activities)
        _split(split, test_fraction, seed)
    run_build(
        build_mtlesd,
        out,
        src=src,
        crop=crop_box,
        activities=acts,
        split=split,
        test_fraction=test_fraction,
        seed=seed,
        overwrite=overwrite,
        strict=strict,
        workers=workers,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(build_app, name="build")
