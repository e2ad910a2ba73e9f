"""`endods corrupt IMAGE --corruption NAME --severity S --out FILE`: apply one robustness corruption.

Handy to preview what the robustness benchmark feeds the model (e.g. `bleeding` or `smoke` at
severity 3) on a real frame. The image is corrupted at its stored resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from cli.common import console, user_errors
from schemas.atomic import atomic_file

if TYPE_CHECKING:
    import numpy as np

# Output format by extension; JPEG at high quality so the file shows the corruption, not our encoder.
_FORMATS = {".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95})}


def _read_rgb(path: Path) -> np.ndarray:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise typer.BadParameter(f"cannot read {path} as an image: {exc}", param_hint="IMAGE") from None


def _write_atomic(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    fmt, options = _FORMATS[path.suffix.lower()]
    with atomic_file(path) as stream:
        Image.fromarray(array).save(stream, format=fmt, **options)


def _bad_option(corruption: str, severity: int) -> str:
    """The option check_options rejected: it tests the name, then the severity, then the seed."""
    from endoarss.robustness import CORRUPTIONS, SEVERITIES

    if corruption not in CORRUPTIONS:
        return "--corruption"
    return "--severity" if severity not in SEVERITIES else "--seed"


def corrupt_cmd(
    image: Path = typer.Argument(..., exists=True, dir_okay=False, help="Input image (any format Pillow reads)."),
    corruption: str = typer.Option(..., "--corruption", "-c", help="Corruption name, e.g. bleeding, smoke."),
    severity: int = typer.Option(..., "--severity", "-s", help="Severity 1 (mild) .. 5 (strongest)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file; .png or .jpg/.jpeg picks the format."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random corruptions (same seed, same output)."),
) -> None:
    """Apply one of the 19 robustness corruptions (paper §IV) to IMAGE and write the result."""
    from endoarss.errors import EndoarssError
    from endoarss.robustness import check_options, corrupt

    with user_errors():
        try:
            check_options(corruption, severity, seed)
        except EndoarssError as exc:
            raise typer.BadParameter(str(exc), param_hint=_bad_option(corruption, severity)) from None
        if out.suffix.lower() not in _FORMATS:
            raise typer.BadParameter(f"{out} must end in .png, .jpg or .jpeg", param_hint="--out")
        from schemas.outputs import check_output_file

        check_output_file(out, inputs=[image])  # the shared output policy: never overwrite the input
        pixels = _read_rgb(image)
        try:
            result = corrupt(pixels, corruption, severity, seed=seed)
        except EndoarssError as exc:  # e.g. an image smaller than 32x32
            raise typer.BadParameter(f"{image}: {exc}", param_hint="IMAGE") from None
        _write_atomic(result, out)
    console.print(
        f"[green]wrote {escape(str(out))}[/] ({corruption}, severity {severity}, seed {seed})", highlight=False
    )


def register(app: typer.Typer) -> None:
    app.command("corrupt")(corrupt_cmd)
