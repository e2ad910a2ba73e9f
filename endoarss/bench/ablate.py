"""Ablation of the efficiency switches: each one measured on and off against the same base run.

The base configuration is measured once; every optimization is then measured with only its switch
flipped, and the JSON gets on/off ratios (time ratio < 1: faster with it on; throughput ratio > 1:
faster; memory ratio < 1: less memory). Runs are sequential in one process, so on a shared CPU the
timings carry machine noise; compare ratios, not absolute numbers, and repeat when they are close
to 1. A variant that fails (no compiler for ``torch.compile``, bf16 unsupported) is recorded as
skipped with its reason instead of aborting the ablation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from endoarss.bench.efficiency import Settings, measure_efficiency, preset_spec, release_memory
from endoarss.errors import ConfigError
from schemas.progress import ProgressFn

OPTIMIZATIONS: dict[str, str] = {
    "amp": "autocast (bf16 unless --amp fp16) vs float32",
    "compile": "torch.compile(model) vs eager",
    "sdpa": "attn_implementation='sdpa' vs 'eager' in the DINOv2 backbone",
    "frozen_backbone": "frozen backbone (only LoRA/adapters/SMA/heads trainable) vs full fine-tune "
    "(requires_grad on every weight: weight grads + Adam states for the backbone)",
    "gradient_checkpointing": "activation checkpointing per transformer layer / ResNet stage vs none",
    "channels_last": "channels_last memory format (conv heads, SMA) vs contiguous",
    "sma": "the preset's SMA block in front of the backbone vs none; sma_share_of_train_memory is its share",
}
RATIO_NOTE = (
    "ratios are on/off: *_time_ratio < 1 and *_throughput_ratio > 1 mean faster with the optimization on, "
    "*_memory_ratio < 1 means less memory; measured one after the other in this run (_best: from the fastest "
    "repeat, less sensitive to a shared machine)"
)


def _on_off(base: Settings, name: str) -> tuple[Settings, Settings]:
    """The (on, off) settings of one optimization, everything else as in ``base``."""
    if name == "amp":
        return replace(base, amp=base.amp if base.amp != "none" else "bf16"), replace(base, amp="none")
    return replace(base, **{name: True}), replace(base, **{name: False})


def _not_applicable(name: str, backbone: str, ablate_compile: bool, has_sma: bool = True) -> str | None:
    if name == "compile" and not ablate_compile:
        return (
            "not requested (default off on CPU: inductor compiles of the training graph take minutes); --ablate-compile"
        )
    if name == "sdpa" and backbone != "dinov2":
        return "no attention in a ResNet backbone"
    if name == "frozen_backbone" and backbone != "dinov2":
        return "the ResNet baseline is fine-tuned, never frozen"
    if name == "sma" and not has_sma:
        return "the preset has no SMA block"
    return None


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    train, infer = result["train"], result["infer"]
    return {
        "settings": result["settings"],
        "train_step_s_median": train["step_s_median"],
        "train_step_s_min": train["step_s_min"],
        "train_peak_mib": train["peak_mib"],
        "infer_img_s_median": infer["img_s_median"],
        "infer_img_s_best": infer["img_s_best"],
        "infer_peak_mib": infer["peak_mib"],
        "params_trainable": result["params_trainable"],
        "losses_finite": train["losses_finite"],
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _compare(on: dict[str, Any], off: dict[str, Any]) -> dict[str, float | None]:
    return {
        "train_time_ratio": _ratio(on["train"]["step_s_median"], off["train"]["step_s_median"]),
        "train_time_ratio_best": _ratio(on["train"]["step_s_min"], off["train"]["step_s_min"]),
        "infer_throughput_ratio": _ratio(on["infer"]["img_s_median"], off["infer"]["img_s_median"]),
        "infer_throughput_ratio_best": _ratio(on["infer"]["img_s_best"], off["infer"]["img_s_best"]),
        "train_memory_ratio": _ratio(on["train"]["peak_mib"], off["train"]["peak_mib"]),
        "infer_memory_ratio": _ratio(on["infer"]["peak_mib"], off["infer"]["peak_mib"]),
    }


def measure_optimizations(
    preset: str = "endoarss",
    backbone_size: str = "base",
    batch: int = 16,
    image_size: int = 224,
    device: str = "cpu",
    amp: str = "bf16",
    compile: bool = False,
    gradient_checkpointing: bool = False,
    channels_last: bool = False,
    sdpa: bool = True,
    warmup: int = 2,
    repeats: int = 5,
    num_activities: int = 12,
    num_classes: int = 8,
    only: Sequence[str] | None = None,
    ablate_compile: bool | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """The base measurement (as :func:`measure_efficiency`) plus ``ablation``: each optimization on/off.

    ``only`` restricts the ablation to some of :data:`OPTIMIZATIONS`; ``ablate_compile`` (default: on
    CUDA only) includes ``torch.compile``. ``on_progress(done, total)`` is called after each run.
    """
    names = list(only) if only else list(OPTIMIZATIONS)
    unknown = sorted(set(names) - set(OPTIMIZATIONS))
    if unknown:
        raise ConfigError(f"unknown optimizations {unknown}; choose from {list(OPTIMIZATIONS)}")
    if ablate_compile is None:
        ablate_compile = device == "cuda"
    backbone, has_sma = preset_spec(preset)["backbone"], preset_spec(preset)["sma"]
    base_settings = Settings(amp, compile, sdpa, True, gradient_checkpointing, channels_last)
    common = {
        "preset": preset,
        "backbone_size": backbone_size,
        "batch": batch,
        "image_size": image_size,
        "device": device,
        "warmup": warmup,
        "repeats": repeats,
        "num_activities": num_activities,
        "num_classes": num_classes,
    }
    skipped = {n: _not_applicable(n, backbone, ablate_compile, has_sma) for n in names}
    counter = _Counter(1 + sum(reason is None for reason in skipped.values()), on_progress)
    base = measure_efficiency(**common, **asdict(base_settings))
    counter.tick()
    results: dict[str, Any] = {}
    for name in names:
        if skipped[name] is not None:
            results[name] = {"what": OPTIMIZATIONS[name], "skipped": skipped[name]}
        else:
            results[name] = _ablate_one(name, base, base_settings, common)
            counter.tick()
    base["ablation"] = {"note": RATIO_NOTE, "base_settings": asdict(base_settings), "optimizations": results}
    return base


class _Counter:
    """Reports ``on_progress(done, total)`` after each measured run."""

    def __init__(self, total: int, on_progress: ProgressFn | None) -> None:
        self.done, self.total, self.on_progress = 0, total, on_progress

    def tick(self) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


def _ablate_one(name: str, base: dict[str, Any], base_settings: Settings, common: dict[str, Any]) -> dict[str, Any]:
    """Measure ``name`` flipped against ``base``: its ratios and summaries, or why it was skipped."""
    on_settings, off_settings = _on_off(base_settings, name)
    other = off_settings if base_settings == on_settings else on_settings
    release_memory()
    try:
        variant = measure_efficiency(**common, **asdict(other))
    except Exception as exc:  # noqa: BLE001 - a failing variant is reported, the ablation goes on
        return {"what": OPTIMIZATIONS[name], "skipped": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
    on, off = (base, variant) if other == off_settings else (variant, base)
    if name == "compile" and not on["compile"]["used"]:
        return {"what": OPTIMIZATIONS[name], "skipped": f"compile failed: {on['compile']['reason']}"}
    result = {
        "what": OPTIMIZATIONS[name],
        "ratios_on_over_off": _compare(on, off),
        "on": _summary(on),
        "off": _summary(off),
    }
    if name == "sma":  # share of the training peak (above the process baseline) that the block adds
        peak_on, peak_off = on["train"]["peak_mib"], off["train"]["peak_mib"]
        result["sma_share_of_train_memory"] = 1 - peak_off / peak_on if peak_on else None
    return result
