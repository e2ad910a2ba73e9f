"""`endods corrupt`: writes the library's corruption as PNG/JPEG and rejects bad options cleanly."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from cli.corrupt import register
from endoarss.robustness import corrupt
from endoarss.robustness.synthetic import tissue_frame

runner = CliRunner()


def _text(output: str) -> str:
    """Rich boxes and wraps error messages; join them back into one line for substring checks."""
    return " ".join(output.replace("│", " ").split())


@pytest.fixture()
def app() -> typer.Typer:
    # A standalone app (not cli.main) so this test does not depend on the other command groups.
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Keep `corrupt` a subcommand."""

    register(app)
    return app


@pytest.fixture()
def frame_png(tmp_path: Path) -> tuple[Path, np.ndarray]:
    pixels = tissue_frame(48, 64, seed=0)
    path = tmp_path / "frame.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def test_listed_in_command_modules() -> None:
    tree = ast.parse((Path(__file__).parents[2] / "cli" / "main.py").read_text())
    lists = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "COMMAND_MODULES"
    ]
    assert "cli.corrupt" in ast.literal_eval(lists[0])


def test_writes_png_equal_to_library(app: typer.Typer, frame_png: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, pixels = frame_png
    out = tmp_path / "sub" / "bleeding.png"
    args = ["corrupt", str(path), "--corruption", "bleeding", "--severity", "4", "--out", str(out), "--seed", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open(out))
    assert np.array_equal(written, corrupt(pixels, "bleeding", 4, seed=3))
    assert not np.array_equal(written, corrupt(pixels, "bleeding", 4, seed=4))
    assert [p.name for p in out.parent.iterdir()] == ["bleeding.png"]  # no temp files left


def test_writes_jpeg_by_extension(app: typer.Typer, frame_png: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, pixels = frame_png
    out = tmp_path / "smoke.JPG"
    result = runner.invoke(app, ["corrupt", str(path), "-c", "smoke", "-s", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        decoded = np.asarray(image.convert("RGB")).astype(int)
    assert np.abs(decoded - corrupt(pixels, "smoke", 2, seed=0)).mean() < 3  # lossy, but close


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--corruption", "fog", "--severity", "1"], "valid names"),
        (["--corruption", "smoke", "--severity", "6"], "1..5"),
        (["--corruption", "smoke", "--severity", "1", "--seed", "-2"], "seed"),
    ],
)
def test_bad_options_exit_2_with_message(
    app: typer.Typer, frame_png: tuple[Path, np.ndarray], tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "x.png"
    result = runner.invoke(app, ["corrupt", str(frame_png[0]), *options, "--out", str(out)])
    assert result.exit_code == 2
    assert message in _text(result.output)
    assert not out.exists()


def test_bad_extension_and_unreadable_image(
    app: typer.Typer, frame_png: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    result = runner.invoke(app, ["corrupt", str(frame_png[0]), "-c", "gamma", "-s", "1", "-o", str(tmp_path / "x.gif")])
    assert result.exit_code == 2 and ".png" in _text(result.output)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    result = runner.invoke(app, ["corrupt", str(junk), "-c", "gamma", "-s", "1", "-o", str(tmp_path / "y.png")])
    assert result.exit_code == 2 and "cannot read" in _text(result.output)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tiny)
    result = runner.invoke(app, ["corrupt", str(tiny), "-c", "gamma", "-s", "1", "-o", str(tmp_path / "z.png")])
    assert result.exit_code == 2 and "at least 32" in _text(result.output)


@pytest.mark.parametrize(
    ("options", "named", "not_named"),
    [
        (["-c", "smoke", "-s", "6"], "Invalid value for --severity:", "--seed"),
        (["-c", "smoke", "-s", "1", "--seed", "-5"], "Invalid value for --seed:", "--severity"),
        (["-c", "fog", "-s", "6"], "Invalid value for --corruption:", "--severity"),
    ],
)
def test_error_names_only_the_wrong_option(
    app: typer.Typer, frame_png: tuple[Path, np.ndarray], tmp_path: Path, options: list[str], named: str, not_named: str
) -> None:
    result = runner.invoke(app, ["corrupt", str(frame_png[0]), *options, "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # a usage error, no traceback
    assert named in _text(result.output) and not_named not in _text(result.output), result.output
