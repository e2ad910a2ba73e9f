"""The `endods` Typer app: every command of the toolkit, one module per command group."""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup, TyperOption

# `endods --help` lists the panels in this order, each command in workflow order within its panel.
HELP_PANELS = {
    "Sources": ("synth", "sources", "demo"),
    "Datasets": ("build", "validate", "report", "export"),
    "Review & publish": ("labelstudio", "publish"),
    "Models": ("train", "eval", "predict"),
    "Benchmarks": ("robustness", "corrupt", "bench"),
}
_WORKFLOW = [name for names in HELP_PANELS.values() for name in names]
_PANEL_OF = {name: panel for panel, names in HELP_PANELS.items() for name in names}


class WorkflowGroup(TyperGroup):
    """Typer lists commands in registration order (single commands before groups); we list the workflow."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        rank = {name: i for i, name in enumerate(_WORKFLOW)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None and cmd_name in _PANEL_OF:
            command.rich_help_panel = _PANEL_OF[cmd_name]  # type: ignore[attr-defined]
        return command


def _hide_flag_type() -> None:
    """Typer 0.29 prints `<bool>` in the type column of every flag, --help included; a flag takes no value."""
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: click.Context) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_type()

app = typer.Typer(
    name="endods",
    help="Build, check, review, publish and train on the EndoARSS surgical multi-task datasets.",
    cls=WorkflowGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from endods import __version__

        typer.echo(f"endods {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


# Each module defines `register(app)`; HELP_PANELS, not this order, sets the order in --help.
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


def main() -> None:
    """The `endods` entry point: the app, with a missing optional extra reported in one line."""
    from cli.extras import missing_extra_exits

    try:
        with missing_extra_exits():
            app()
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None


if __name__ == "__main__":
    main()
