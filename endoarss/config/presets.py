"""Named training presets (the paper's table rows): which model and loss weighting each one trains.

No yaml, pydantic or torch, so the efficiency bench can resolve presets on a bare GPU box and the CLI
can list them; ``endoarss.config`` layers the presets over its ``TrainConfig`` defaults. The names
come from the registries (``endoarss.models.registry``, ``endoarss.weighting.WEIGHTINGS``).
"""

from __future__ import annotations

from typing import Any

from endoarss.errors import ConfigError
from endoarss.models.registry import TASKS
from endoarss.weighting import WEIGHTINGS

# The multi-task architectures of the paper's tables (ARCHS in endoarss.models.registry; `single` is seg-/cls-only).
_TABLE_ARCHS = ("tesla", "hps", "mmoe", "dselect_k")


def _preset(backbone: str, arch: str, weighting: str, sma: bool, **extra: Any) -> dict[str, Any]:
    return {"backbone": backbone, "arch": arch, "weighting": weighting, "sma": sma, **extra}


def _build_presets() -> dict[str, dict[str, Any]]:
    presets: dict[str, dict[str, Any]] = {"endoarss": _preset("dinov2", "tesla", "db_mtl", True)}
    for w in WEIGHTINGS:
        presets[f"endoarss-{w}"] = _preset("dinov2", "tesla", w, True)
        for arch in _TABLE_ARCHS:
            presets[f"dinov2-{arch}-{w}"] = _preset("dinov2", arch, w, False)
        for arch in _TABLE_ARCHS:
            presets[f"resnet101-{arch}-{w}"] = _preset("resnet101", arch, w, False)
    presets["seg-only"] = _preset("dinov2", "single", "ew", True, tasks=("segmentation",))
    presets["cls-only"] = _preset("dinov2", "single", "ew", True, tasks=("activity",))
    return presets


#: Preset name → the fields it sets on top of the TrainConfig defaults. Names follow the paper's tables:
#: ``endoarss`` is the full method (DINOv2 + LoRA + SMA + TESLA + DB-MTL).
PRESETS: dict[str, dict[str, Any]] = _build_presets()


def preset_fields(name: str) -> dict[str, Any]:
    """The fields preset ``name`` sets; ConfigError listing the known presets for any other name."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    return PRESETS[name]


def describe_preset(name: str) -> str:
    """One-line human summary of a preset (for ``endods train --list-presets``)."""
    p = preset_fields(name)
    tasks = "+".join(p.get("tasks", TASKS))
    sma = " + SMA" if p["sma"] else ""
    return f"{p['backbone']}{sma}, arch {p['arch']}, weighting {p['weighting']}, tasks {tasks}"
