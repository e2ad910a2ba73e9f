"""`endods build endoarss-folder`: import a dataset in the released EndoARSS folder layout."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.build import OVERWRITE_HELP, STRICT_HELP, WORKERS_HELP
from endods.export.naming import IMPORT_DATASETS


def build_endoarss_folder_cmd(
    src: Path = typer.Option(..., "--src", help="Folder with train/ and test/ (or val/) in the released layout."),
    out: Path = typer.Option(..., "--out", help="Output folder of the built dataset (written atomically)."),
    dataset: str = typer.Option(..., "--dataset", help=f"Label map to read it with: {', '.join(IMPORT_DATASETS)}."),
    class_names: str = typer.Option(
        None, "--class-names", help="MTLESD only: comma-separated names of classes 1..6 (default esd_class_N)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help=WORKERS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """Released layout → built dataset; split kept as given, frame ids parsed back from the file names."""
    from cli.build import run_build
    from endods.import_folder import import_endoarss_folder

    if dataset not in IMPORT_DATASETS:
        raise typer.BadParameter(f"choose one of {', '.join(IMPORT_DATASETS)}, got {dataset!r}", param_hint="--dataset")
    names = class_names.split(",") if class_names is not None else None
    run_build(
        import_endoarss_folder,
        out,
        src=src,
        dataset=dataset,
        overwrite=overwrite,
        class_names=names,
        workers=workers,
        strict=strict,
    )


def register(app: typer.Typer) -> None:
    from cli.build import build_app

    build_app.command("endoarss-folder")(build_endoarss_folder_cmd)
