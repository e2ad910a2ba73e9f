"""Which optional extra provides each model-side import, and the one-line message when it is missing.

`pip install endods` builds, checks, reviews and publishes datasets; the model side (training,
evaluation, benchmarks) needs `endods[train]`, the corruption benchmark `endods[robustness]`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.markup import escape

from cli.common import err_console

# imagecorruptions 1.1.2 declares the full opencv-python, which would replace the headless cv2 the
# dataset side uses; the robustness extra therefore carries its other needs, and the package itself
# is installed without dependencies.
IMAGECORRUPTIONS = "imagecorruptions==1.1.2"
EXTRA_OF_MODULE = {
    "torch": "train",
    "transformers": "train",
    "accelerate": "train",
    "safetensors": "train",
    "scipy": "train",
    "skimage": "train",
    "imagecorruptions": "robustness",
    "pkg_resources": "robustness",
}


def install_hint(module: str) -> str | None:
    """The install command that provides top-level `module`, or None when no extra does."""
    extra = EXTRA_OF_MODULE.get(module.split(".")[0])
    if extra is None:
        return None
    hint = f"pip install 'endods[{extra}]'"
    if extra == "robustness":
        hint += f" && pip install --no-deps {IMAGECORRUPTIONS}"
    return hint


@contextlib.contextmanager
def missing_extra_exits() -> Iterator[None]:
    """Turn the ModuleNotFoundError of an uninstalled extra into one line naming it, and exit 1."""
    try:
        yield
    except ModuleNotFoundError as exc:
        hint = install_hint(exc.name or "")
        if hint is None:
            raise
        err_console.print(
            f"[bold red]error:[/] this command needs {exc.name}, which is not installed: {escape(hint)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
