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

from cli.common import console, progress_bar, user_errors

URL_HELP = "Label Studio base URL (default: $LABEL_STUDIO_URL)."
KEY_HELP = "Label Studio API key (default: $LABEL_STUDIO_API_KEY, preferred: options end up in shell history)."
UPLOAD_HELP = (
    "files: upload images through Label Studio's import API (any server, remote included). "
    "local: write them under the server's local-files document root (same disk; faster)."
)
ROOT_HELP = "The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: that variable); --upload local only."


def export_cmd(
    out: Path = typer.Argument(..., help="A dataset folder written by `endods build`."),
    url: str = typer.Option(None, "--url", help=URL_HELP),
    api_key: str = typer.Option(None, "--api-key", help=KEY_HELP, show_default=False),
    project: str = typer.Option(None, "--project", help="Project title; reused if it exists (default: derived)."),
    split: str = typer.Option("test", "--split", help="Which split to review."),
    predictions: Path = typer.Option(
        None, "--predictions", help="`endods predict` output folder: review model vs labels, disagreements first."
    ),
    upload: str = typer.Option("files", "--upload", help=UPLOAD_HELP),
    local_root: Path = typer.Option(None, "--local-root", help=ROOT_HELP),
    local_dir: Path = typer.Option(
        None, "--local-dir", help="Image folder under --local-root (default: <root>/endods-review/<dataset>-<version>)."
    ),
) -> None:
    """Upload a split as review tasks whose pre-annotation is the current label (or a model's prediction)."""
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
        )
    verb = "added to existing" if res.reused_project else "created"
    console.print(f"[green]{len(res.task_ids)} task(s) {verb} project {res.project_id}:[/] {escape(res.project_url)}")
    if res.skipped:
        console.print(f"{len(res.skipped)} frame(s) were already in the project and were skipped.")
    flagged = [d for d in res.disagreements if d.score > 0]
    if res.disagreements:
        console.print(f"{len(flagged)} frame(s) where the model disagrees; first in the queue:")
        for d in flagged[:10]:
            console.print(f"  {d.frame_id}  score {d.score:.2f}  {d.tag()}", highlight=False, markup=False)
    console.print(
        f"After review: endods labelstudio import --project {res.project_id} --base {out} --out OUT2", markup=False
    )


def import_cmd(
    url: str = typer.Option(None, "--url", help=URL_HELP),
    api_key: str = typer.Option(None, "--api-key", help=KEY_HELP, show_default=False),
    project: int = typer.Option(..., "--project", help="Project id printed by `labelstudio export`."),
    base: Path = typer.Option(..., "--base", help="The dataset that was exported."),
    out: Path = typer.Option(..., "--out", help="Folder for the reviewed dataset version."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    any_version: bool = typer.Option(
        False, "--any-version", help="Accept tasks exported from another version of --base (same images)."
    ),
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
        )
    changed = manifest.parent.changed if manifest.parent else []
    console.print(
        f"[green]{escape(str(out))}[/] version {manifest.version} "
        f"(from {manifest.parent.version if manifest.parent else '?'})"
    )
    console.print(f"{len(changed)} frame(s) changed:")
    for c in changed:
        act = f"{c.activity_before} -> {c.activity_after}" if c.activity_before != c.activity_after else "activity kept"
        console.print(f"  {c.frame_id}: {c.mask_pixels_changed} mask pixel(s), {act}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Review labels in Label Studio and import them as a new dataset version.")
    group.command("export")(export_cmd)
    group.command("import")(import_cmd)
    app.add_typer(group, name="labelstudio")
