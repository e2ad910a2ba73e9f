"""`endods publish OUT --repo-id ORG/NAME`: upload a built dataset to the Hugging Face Hub.

All checks (validation, card, EndoVis rights) run before any network call; `--dry-run` stops there
and prints what would be uploaded. The token is never printed: only where it came from.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import console, err_console, progress_bar, user_errors


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def publish_cmd(
    out: Path = typer.Argument(..., metavar="DATASET", help="A dataset folder written by `endods build`."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repository, ORG/NAME."),
    public: bool = typer.Option(False, "--public", help="Create the repo public (default: private)."),
    i_have_rights: bool = typer.Option(
        False, "--i-have-rights", help="Confirm you may redistribute the source data (needed for public EndoVis)."
    ),
    revision: str | None = typer.Option(None, "--revision", help="Branch to upload to (created if missing)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and show the upload; no network call."),
    token: str | None = typer.Option(
        None, "--token", help="Hub token (default: HF_TOKEN, then your `hf auth login`).", show_default=False
    ),
) -> None:
    """Validate OUT, create the dataset repo (private by default), upload it and tag the version."""
    from endods.hub import plan_publish, publish, resolve_token

    with user_errors():
        with progress_bar() as progress:
            task = progress.add_task("validating", total=None)
            plan = plan_publish(
                out,
                repo_id,
                public=public,
                i_have_rights=i_have_rights,
                revision=revision,
                on_progress=lambda d, t: progress.update(task, completed=d, total=t),
            )
        if plan.endovis_derived and public:
            err_console.print(f"[bold yellow]warning:[/] publishing EndoVis-derived data publicly. {plan.terms}")
        table = Table(title=f"{plan.dataset} version {plan.tag} → {plan.repo_id}")
        table.add_column("file")
        table.add_column("size", justify="right")
        for f in plan.files:
            table.add_row(f.path, _size(f.size))
        table.add_row("[bold]total", f"[bold]{_size(plan.total_bytes)}")
        console.print(table)
        console.print(
            f"repo: {plan.repo_id} ({'private' if plan.private else 'public'}), "
            f"branch: {plan.revision or 'main'}, tag: {plan.tag}",
            highlight=False,
        )
        if dry_run:
            _, source = resolve_token(token)
            console.print("\n[bold]card head:[/]")
            console.print(plan.card_head, markup=False, highlight=False)
            found = f"found ({source})" if source != "none" else "none found (run `hf auth login` or set HF_TOKEN)"
            console.print(f"\ntoken: {found}")
            console.print("[green]dry run: nothing was uploaded.")
            return
        result = publish(plan, token=token)
    if plan.private != result.private:
        err_console.print(f"[yellow]note:[/] {escape(plan.repo_id)} already existed and is private; it stays private.")
    tag_note = "already there" if result.tag_existed else "created"
    console.print(f"[green]published[/] {plan.dataset} {result.tag} (commit {result.commit[:12]}, tag {tag_note})")
    console.print(result.url, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
