"""`endods synth endovis18|endovis17|esd DEST`: write synthetic sources in the real layouts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cli.common import console, progress_bar, user_errors
from endods.text import plural

synth_app = typer.Typer(
    name="synth",
    help="Write small synthetic source trees in the exact layouts of the public releases, for tests and demos.",
    no_args_is_help=True,
)

DEST = typer.Argument(..., help="Folder to write the source ROOT into (created if missing).")
SEQUENCES = typer.Option(None, "--sequences", min=1, help="Sequences / datasets / videos to write.")
FRAMES = typer.Option(None, "--frames", min=1, help="Frames per sequence/video (default: 8; ESD: its own).")
SEED = typer.Option(0, "--seed", help="Random seed (same seed, same bytes).")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace source folders that already exist in DEST.")
IDS = typer.Option(
    "2018", "--ids", help="endovis18 only: ISINet id table of the masks, 2018 or 2017 (the 2017-compatible table)."
)
LAYOUT = typer.Option(
    "real", "--layout", help="real: the layouts of the public downloads; original: the older VQLA/EndoVis17 layouts."
)


def _summary(report: object, dest: Path) -> None:
    frames = getattr(report, "frames", None)
    dropped = getattr(report, "dropped", None)
    files = getattr(report, "files", None)
    parts = []
    if frames is not None:
        parts.append(plural(len(frames), "buildable frame"))
    if dropped is not None:
        parts.append(f"{plural(len(dropped), 'frame')} a build must drop")
    if files is not None:
        parts.append(f"{files} files")
    console.print(f"wrote {', '.join(parts) or 'sources'} under [bold]{escape(str(dest))}[/]")


def _run(
    kind: str, dest: Path, sequences: int | None, frames: int | None, seed: int, overwrite: bool, variant: dict
) -> None:
    from endods.synth import synth_endovis17, synth_endovis18
    from endods.synth.esd import synth_esd

    with user_errors(), progress_bar() as bar:
        task = bar.add_task(f"synth {kind} frames", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if kind == "esd":
            extra = {"frames": frames} if frames else {}
            report = synth_esd(dest, videos=sequences or 2, seed=seed, overwrite=overwrite, on_progress=step, **extra)
        else:
            fn, default_sequences = (synth_endovis18, 3) if kind == "endovis18" else (synth_endovis17, 2)
            n = sequences or default_sequences
            report = fn(
                dest, sequences=n, frames=frames or 8, seed=seed, overwrite=overwrite, on_progress=step, **variant
            )
    _summary(report, dest)


_KINDS = {
    "endovis18": "EndoVis18 + ISINet + EndoVis-18-VQLA-Extend: DEST/endovis18, DEST/isinet18, "
    "DEST/EndoVis-18-VQA_extended (--layout original: DEST/EndoVis-18-VQLA).",
    "endovis17": "EndoVis17 + EndoVis-17-VQLA-Extend: DEST/endovis17/instrument_1_4_training, "
    "DEST/EndoVis-17-VQA_extended_final (--layout original: DEST/endovis17/instrument_dataset_K, DEST/EndoVis-17-VQLA).",
    "esd": "ESD videos + phases.csv + COCO annotations: DEST/videos, DEST/phases.csv, DEST/annotations.json.",
}


def _variant(kind: str, ids: str, layout: str) -> dict:
    """--ids / --layout as keyword arguments of the generator (usage error when not valid for KIND)."""
    if layout not in ("real", "original"):
        raise typer.BadParameter(f"choose real or original, got {layout!r}", param_hint="--layout")
    if ids not in ("2018", "2017"):
        raise typer.BadParameter(f"choose 2018 or 2017, got {ids!r}", param_hint="--ids")
    if kind == "endovis18":
        return {"ids": ids, "layout": layout}
    if ids != "2018":
        raise typer.BadParameter("only endovis18 has ISINet masks", param_hint="--ids")
    if kind == "esd" and layout != "real":
        raise typer.BadParameter("ESD has one layout", param_hint="--layout")
    return {"layout": layout} if kind == "endovis17" else {}


def _command(kind: str) -> None:
    """Register ``endods synth KIND`` (the three commands differ only in what they write)."""

    def command(
        dest: Path = DEST,
        sequences: int | None = SEQUENCES,
        frames: int | None = FRAMES,
        seed: int = SEED,
        overwrite: bool = OVERWRITE,
        ids: str = IDS,
        layout: str = LAYOUT,
    ) -> None:
        _run(kind, dest, sequences, frames, seed, overwrite, _variant(kind, ids, layout))

    command.__doc__ = _KINDS[kind]
    synth_app.command(kind)(command)


for _kind in _KINDS:
    _command(_kind)


def register(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")
