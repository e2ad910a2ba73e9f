"""Training configuration: the ``TrainConfig`` schema, named presets, and ``key=value`` overrides.

The schema (pydantic, yaml) is imported on first use of its names, so ``endoarss.config.choices``
and ``endoarss.config.presets`` stay light for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

from endoarss.config.presets import PRESETS, TASKS, WEIGHTINGS, describe_preset

_SCHEMA = {
    "TrainConfig": "endoarss.config.schema",
    "apply_overrides": "endoarss.config.overrides",
    "build_config": "endoarss.config.overrides",
    "parse_overrides": "endoarss.config.overrides",
}


def __getattr__(name: str) -> Any:
    if name in _SCHEMA:
        return getattr(importlib.import_module(_SCHEMA[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PRESETS", "TASKS", "WEIGHTINGS", *_SCHEMA, "describe_preset"]
