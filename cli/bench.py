"""`endods bench efficiency`: memory and throughput of a preset vs the paper, with an on/off ablation.

A thin wrapper over `endoarss.bench.efficiency` (which GPU boxes run through `benchmarks/efficiency.py`,
without rich/typer): a rich table on stdout, then ONE JSON line as the last line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import typer
from rich.table import Table

from cli.common import console, progress_bar, user_errors
from endoarss.config.choices import AMP_MODES
from endoarss.config.presets import PRESETS
from endoarss.models.registry import BACKBONES
from schemas.atomic import atomic_write_text

# Choices from the registries (no torch at import): presets, random shapes any backbone has, amp modes.
RANDOM_SIZES = tuple(dict.fromkeys(size for spec in BACKBONES.values() for size in spec.shapes))
Preset = Literal[tuple(PRESETS)]  # type: ignore[valid-type]
RandomSize = Literal[RANDOM_SIZES]  # type: ignore[valid-type]
Amp = Literal[AMP_MODES]  # type: ignore[valid-type]
Device = Literal["cpu", "cuda"]

bench_app = typer.Typer(help="Benchmarks of the models (random weights; nothing is downloaded).", no_args_is_help=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _main_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"efficiency: {result['preset']} ({result['backbone_size']}) on {result['device_name']}")
    for column in ("phase", "median s/batch", "img/s", "peak MiB", "memory kind"):
        table.add_column(column)
    for name in ("train", "infer"):
        phase = result[name]
        table.add_row(
            name,
            _fmt(phase["step_s_median"], 4),
            _fmt(phase["img_s_median"], 1),
            _fmt(phase["peak_mib"], 0),
            phase["memory_kind"],
        )
    vs = result["vs_paper"]
    table.caption = (
        f"{vs['note']}: inference speed-up {_fmt(vs['inference_speedup_vs_paper'], 2)}x, train memory "
        f"{_fmt(vs['train_memory_ratio_vs_paper'], 2)}x, inference memory {_fmt(vs['infer_memory_ratio_vs_paper'], 2)}x"
    )
    return table


def _ablation_table(ablation: dict[str, Any]) -> Table:
    table = Table(title="optimizations, ratio on/off (time < 1, throughput > 1, memory < 1 = better)")
    table.add_column("optimization", no_wrap=True)
    for column in ("train time", "infer img/s", "train mem", "infer mem", "note"):
        table.add_column(column)
    for name, entry in ablation["optimizations"].items():
        ratios = entry.get("ratios_on_over_off")
        if ratios is None:
            table.add_row(name, "-", "-", "-", "-", f"skipped: {entry['skipped']}")
            continue
        keys = ("train_time_ratio", "infer_throughput_ratio", "train_memory_ratio", "infer_memory_ratio")
        table.add_row(name, *(_fmt(ratios[k], 2) for k in keys), "")
    return table


def efficiency_cmd(
    preset: Preset = typer.Option(
        "endoarss",
        "--preset",
        metavar="PRESET",
        help="Training preset to build (see `endods train --list-presets`).",
    ),
    backbone_size: RandomSize = typer.Option(
        "base",
        "--backbone-size",
        help="Random backbone size (ResNets: base = the depth in the name, or tiny).",
    ),
    batch: int = typer.Option(16, "--batch", help="Images per step."),
    image_size: int = typer.Option(224, "--image-size", help="Square input size (multiple of 14 for DINOv2)."),
    device: Device = typer.Option("cpu", "--device", help="Where to run."),
    amp: Amp = typer.Option("bf16", "--amp", help="Autocast dtype."),
    compile_model: bool = typer.Option(False, "--compile", help="Run the model through torch.compile."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing", help="Activation checkpointing."),
    channels_last: bool = typer.Option(False, "--channels-last", help="channels_last memory format."),
    ablate: bool = typer.Option(False, "--ablate", help="Measure every optimization on and off."),
    ablate_compile: bool = typer.Option(
        None,
        "--ablate-compile/--no-ablate-compile",
        help="Include torch.compile in the ablation (default: on CUDA only).",
    ),
    warmup: int = typer.Option(2, "--warmup", help="Untimed calls before timing."),
    repeats: int = typer.Option(5, "--repeats", help="Timed calls (median and min are reported)."),
    json_out: Path = typer.Option(None, "--json-out", help="Also write the JSON result to this file."),
) -> None:
    """Training/inference time and peak memory of a preset, as ratios to the paper's RTX 4090 figures."""
    with user_errors():
        from endoarss.bench.efficiency import measure_efficiency

        kwargs = {
            "preset": preset,
            "backbone_size": backbone_size,
            "batch": batch,
            "image_size": image_size,
            "device": device,
            "amp": amp,
            "compile": compile_model,
            "warmup": warmup,
            "repeats": repeats,
            "gradient_checkpointing": gradient_checkpointing,
            "channels_last": channels_last,
        }
        if ablate:
            from endoarss.bench.ablate import measure_optimizations

            with progress_bar() as bar:
                task = bar.add_task("ablation runs", total=None)
                result = measure_optimizations(
                    **kwargs,
                    ablate_compile=ablate_compile,
                    on_progress=lambda d, t: bar.update(task, completed=d, total=t),
                )
        else:
            result = measure_efficiency(**kwargs)
    console.print(_main_table(result))
    if "ablation" in result:
        console.print(_ablation_table(result["ablation"]))
    line = json.dumps(result)
    if json_out is not None:
        atomic_write_text(json_out, line + "\n")
    typer.echo(line)


def register(app: typer.Typer) -> None:
    bench_app.command("efficiency")(efficiency_cmd)
    app.add_typer(bench_app, name="bench")
