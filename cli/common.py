"""Shared CLI helpers: one console, error handling that turns library errors into exit 1."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from schemas.errors import ToolError, ToolWarning

# One wording per shared option, so every command says the same thing (tests/cli/test_cli_options.py).
SPLIT_HELP = "Dataset split to use (train or test)."
WORKERS_HELP = "Parallel workers."

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a library error's message in red and exit 1 (no traceback); library notices (a rebuilt or
    unused sample cache) as one yellow ``warning:`` line instead of Python's two-line warning format."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if issubclass(category, ToolWarning):
            err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    except ToolError as exc:  # EndodsError, EndoarssError and OutputError all derive from it
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # an unreadable input, a full disk: one line naming the path, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc} (check the path, its permissions and free space)"
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    finally:
        warnings.showwarning = previous


class _ShownOnFirstUpdate(Progress):
    """A bar appears at its first update, so a usage error raised before any work draws no empty "0/?" bar."""

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        kwargs.setdefault("visible", False)
        return super().add_task(description, *args, **kwargs)

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        kwargs.setdefault("visible", True)
        super().update(task_id, **kwargs)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().update(task_id, visible=True)
        super().advance(task_id, advance)


def progress_bar() -> Progress:
    return _ShownOnFirstUpdate(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
