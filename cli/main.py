"""The `endods` Typer app: every command of the toolkit, one module per command group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="endods",
    help="Build, check, review, publish and train on the EndoARSS surgical multi-task datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module defines `register(app)`; import order = order in --help.
COMMAND_MODULES = [
    "cli.synth",
    "cli.sources",
    "cli.build",
    "cli.build_folder",
    "cli.validate",
    "cli.report",
    "cli.export",
    "cli.labelstudio",
    "cli.publish",
    "cli.corrupt",
    "cli.train",
    "cli.robustness",
    "cli.demo",
    "cli.bench",
]

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


if __name__ == "__main__":
    app()
