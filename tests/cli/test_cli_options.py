"""One option vocabulary across every command, checked on the click objects Typer builds."""

from __future__ import annotations

import typing
from typing import Any

import typer

from cli.main import app

# Tri-state on purpose: unset means "decide from the device" (bench efficiency), not False.
TRI_STATE_FLAGS = {("bench", "efficiency", "--ablate-compile")}
# Arguments that take a built dataset; every other command takes RUN, IMAGE, DEST or no argument.
DATASET_COMMANDS = {
    ("validate",),
    ("report",),
    ("export",),
    ("publish",),
    ("labelstudio", "export"),
}
PARALLEL_COMMANDS = {
    ("build", "mtlendovis"),
    ("build", "mtlendovis-gen"),
    ("build", "mtlesd"),
    ("build", "endoarss-folder"),
    ("labelstudio", "export"),
    ("labelstudio", "import"),
    ("robustness",),
}
BUILDS = {("build", name) for name in ("mtlendovis", "mtlendovis-gen", "mtlesd", "endoarss-folder")}


def _commands() -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            found[path] = cmd

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _options(path: tuple[str, ...]) -> dict[str, Any]:
    return {opt: p for p in COMMANDS[path].params if p.param_type_name == "option" for opt in p.opts}


def test_the_walk_sees_every_command() -> None:
    assert {("build", "mtlesd"), ("labelstudio", "import"), ("eval",), ("synth", "esd")} <= set(COMMANDS)
    assert len(COMMANDS) >= 20


def test_workers_is_the_one_spelling_and_every_parallel_command_has_it() -> None:
    for path in COMMANDS:
        opts = _options(path)
        assert "--num-workers" not in opts, path
        if path in PARALLEL_COMMANDS:
            assert "--workers" in opts, path
            assert opts["--workers"].type_descriptor.annotation is int, path


def test_every_build_has_workers_and_strict() -> None:
    for path in BUILDS:
        opts = _options(path)
        assert {"--workers", "--strict", "--overwrite", "--out"} <= set(opts), path
        assert opts["--strict"].is_flag and opts["--out"].required, path


def test_split_means_one_dataset_split_defaulting_to_test() -> None:
    seen = 0
    for path in COMMANDS:
        split = _options(path).get("--split")
        if split is None:
            continue
        if split.opts[0] == "--split-mode":
            # Builds keep --split as the earlier name of --split-mode (paper|group), so scripts written
            # against docs/architecture.md's CLI still run; its primary name says it is a mode.
            assert split.default == "paper" and path in BUILDS, path
            continue
        seen += 1
        assert split.default == "test" and not split.multiple and not split.is_flag, path
        assert split.help.startswith("Dataset split to use"), path
    assert seen >= 4  # eval, predict, robustness, labelstudio export


def test_boolean_flags_are_single_flags() -> None:
    for path in COMMANDS:
        for p in COMMANDS[path].params:
            if p.param_type_name == "option" and p.is_flag and (*path, p.opts[0]) not in TRI_STATE_FLAGS:
                assert not p.secondary_opts, (path, p.opts, p.secondary_opts)


def test_dataset_arguments_are_named_dataset() -> None:
    for path in DATASET_COMMANDS:
        args = [p for p in COMMANDS[path].params if p.param_type_name == "argument"]
        assert (args[0].metavar or args[0].name.upper()) == "DATASET", path


def test_required_options_are_marked_and_projects_are_ids() -> None:
    assert _options(("train",))["--out"].required and _options(("train",))["--data"].required
    assert _options(("predict",))["--out"].required
    for path in [("labelstudio", "export"), ("labelstudio", "import")]:
        assert _options(path)["--project"].type_descriptor.annotation is int, path
    assert "--title" in _options(("labelstudio", "export"))


def test_an_error_before_any_work_draws_no_empty_progress_bar(tmp_path) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    for args in (
        ["export", str(tmp_path / "nope"), str(tmp_path / "dest"), "--format", "coco"],
        ["validate", str(tmp_path / "nope")],
        ["synth", "endovis17", str(tmp_path), "--sequences", "9"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert "0/?" not in result.output and "━" not in result.output, (args, result.output)


def test_model_choices_come_from_the_registries() -> None:
    """Adding a preset, amp mode or backbone shape to its registry adds it to the CLI; nothing else lists them."""
    from typer.testing import CliRunner

    from endoarss.config.choices import AMP_MODES
    from endoarss.config.presets import PRESETS
    from endoarss.models.registry import BACKBONES

    def choices(path: tuple[str, ...], option: str) -> tuple[str, ...]:
        return typing.get_args(_options(path)[option].type_descriptor.annotation)

    sizes = {size for spec in BACKBONES.values() for size in spec.shapes}
    bench = ("bench", "efficiency")
    assert choices(bench, "--amp") == AMP_MODES
    assert set(choices(bench, "--backbone-size")) == sizes == {"tiny", "small", "base"}
    assert choices(bench, "--preset") == tuple(PRESETS) == choices(("train",), "--preset")
    runner = CliRunner()
    shown = runner.invoke(app, ["bench", "efficiency", "--help"], env={"COLUMNS": "200"}).output
    assert "<bf16|fp16|none>" in shown and "<tiny|small|base>" in shown
    bad = runner.invoke(app, ["train", "--data", "d", "--out", "o", "--preset", "resnet50-hps-ew"])
    assert bad.exit_code == 2 and "Invalid value for '--preset'" in bad.output and "'resnet50-hps-ew'" in bad.output
    assert "Traceback" not in bad.output
