"""`endods labelstudio export|import`: the review round trip through a Label Studio server.

The URL and API key come from --url / --api-key or LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY; prefer
the variable for the key (an option lands in shell history and process lists). It is never printed.
`--upload local` writes the images into the server's local-files document root instead of
uploading them (same machine or shared disk; --local-root or LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cli.common import SPLIT_HELP, WORKERS_HELP, console, progress_bar, user_errors
from endods.text import plural

URL_HELP = "Label Studio base URL (default: $LABEL_STUDIO_URL)."
KEY_HELP = "Label Studio API key (default: $LABEL_STUDIO_API_KEY, preferred: options end up in shell history)."
UPLOAD_HELP = (
    "files: upload images through Label Studio's import API (any server, remote included). "
    "local: write them under the server's local-files document root (same disk; faster)."
)
ROOT_HELP = "The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: that variable); --upload local only."


def export_cmd(
    out: Path = typer.Argument(..., metavar="DATASET", help="A dataset folder written by `endods build`."),
    url: str = typer.Option(None, "--url", help=URL_HELP),
    api_key: str = typer.Option(None, "--api-key", help=KEY_HELP, show_default=False),
    project: int = typer.Option(
        None, "--project", help="Id of an existing project to append to (default: create a new project)."
    ),
    title: str = typer.Option(None, "--title", help="Title of the new project (default: derived from the dataset)."),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    predictions: Path = typer.Option(
        None,
        "--predictions",
        help="`endods predict` output folder: the model's output becomes a second prediction on each task "
        "(the pre-fill stays the current label), disagreements first.",
    ),
    upload: str = typer.Option("files", "--upload", help=UPLOAD_HELP),
    local_root: Path = typer.Option(None, "--local-root", help=ROOT_HELP),
    local_dir: Path = typer.Option(
        None, "--local-dir", help="Image folder under --local-root (default: <root>/endods-review/<dataset>-<version>)."
    ),
    workers: int = typer.Option(None, "--workers", min=0, help=WORKERS_HELP + " Encodes masks (default: one per CPU)."),
) -> None:
    """Upload a split as review tasks pre-filled with the current label (+ a model's prediction to pick)."""
    from endods.labelstudio import export_to_labelstudio

    with user_errors(), progress_bar() as progress:
        task = progress.add_task("exporting to Label Studio", total=None)
        res = export_to_labelstudio(
            out,
            url,
            api_key,
            project,
            split,
            predictions,
            lambda d, t: progress.update(task, completed=d, total=t),
            upload=upload,  # type: ignore[arg-type]  # validated by the library (clear error)
            local_root=local_root,
            local_dir=local_dir,
            workers=workers,
            title=title,
            on_phase=lambda name: progress.update(task, description=name),
        )
    verb = "added to existing" if res.reused_project else "created"
    console.print(
        f"[green]{plural(len(res.task_ids), 'task')} {verb} project {res.project_id}:[/] {escape(res.project_url)}"
    )
    if res.skipped:
        console.print(f"{plural(len(res.skipped), 'frame')} already in the project, skipped.")
    flagged = [d for d in res.disagreements if d.score > 0]
    if res.disagreements:
        console.print(f"{plural(len(flagged), 'frame')} where the model disagrees; first in the queue:")
        for d in flagged[:10]:
            console.print(f"  {d.frame_id}  score {d.score:.2f}  {d.tag()}", highlight=False, markup=False)
    console.print(
        f"After review: endods labelstudio import --project {res.project_id} --base {out} --out OUT2", markup=False
    )


def import_cmd(
    url: str = typer.Option(None, "--url", help=URL_HELP),
    api_key: str = typer.Option(None, "--api-key", help=KEY_HELP, show_default=False),
    project: int = typer.Option(..., "--project", help="Project id printed by `labelstudio export`."),
    base: Path = typer.Option(..., "--base", help="The dataset that was exported (DATASET of `labelstudio export`)."),
    out: Path = typer.Option(..., "--out", help="Folder for the reviewed dataset version."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    any_version: bool = typer.Option(
        False, "--any-version", help="Accept tasks exported from another version of --base (same images)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help=WORKERS_HELP + " Threads decoding and encoding frames."),
) -> None:
    """Write a new dataset version with the reviewed labels; its manifest lists every changed frame."""
    from endods.labelstudio import import_from_labelstudio

    with user_errors(), progress_bar() as progress:
        task = progress.add_task("importing reviewed labels", total=None)
        manifest = import_from_labelstudio(
            url,
            api_key,
            project,
            base,
            out,
            overwrite,
            lambda d, t: progress.update(task, completed=d, total=t),
            any_version=any_version,
            workers=workers,
        )
    changed = manifest.parent.changed if manifest.parent else []
    console.print(
        f"[green]{escape(str(out))}[/] version {manifest.version} "
        f"(from {manifest.parent.version if manifest.parent else '?'})"
    )
    accepted = sum(1 for c in changed if c.model_accepted)
    console.print(
        f"{plural(len(changed), 'frame')} changed ({accepted} model accepted, {len(changed) - accepted} drawn):"
    )
    for c in changed:
        act = f"{c.activity_before} -> {c.activity_after}" if c.activity_before != c.activity_after else "activity kept"
        how = "model accepted" if c.model_accepted else "drawn"
        line = f"  {c.frame_id}: {plural(c.mask_pixels_changed, 'mask pixel')}, {act}, {how}"
        console.print(line, highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Review labels in Label Studio and import them as a new dataset version.")
    group.command("export")(export_cmd)
    group.command("import")(import_cmd)
    app.add_typer(group, name="labelstudio")
