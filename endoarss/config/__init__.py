"""Training configuration: the ``TrainConfig`` schema, named presets, and ``key=value`` overrides."""

from endoarss.config.presets import PRESETS, TASKS, WEIGHTINGS, describe_preset
from endoarss.config.schema import TrainConfig, apply_overrides, build_config, parse_overrides

__all__ = ["PRESETS", "TASKS", "WEIGHTINGS", "TrainConfig", "apply_overrides", "build_config", "describe_preset",
           "parse_overrides"]  # fmt: skip
