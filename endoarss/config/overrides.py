"""``key=value`` overrides: parsed into a dict (dotted keys into dict fields), then validated by ``TrainConfig``."""

from __future__ import annotations

import typing
from typing import Any

import yaml

from endoarss.config.presets import preset_fields
from endoarss.config.schema import FIELDS, TrainConfig, unknown_key_message
from endoarss.errors import ConfigError


def _is_dict_field(name: str) -> bool:
    hint = TrainConfig.model_fields[name].annotation
    return typing.get_origin(hint) is dict or any(typing.get_origin(a) is dict for a in typing.get_args(hint))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-4", "weighting_kwargs.beta=0.5"]`` → a dict; values are YAML scalars/flow collections.

    A dotted key sets one entry of a dict field. Keys and value types are checked by :func:`build_config`.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value; valid keys: {sorted(FIELDS)}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if "." not in key:
            out[key] = value
            continue
        base, sub = key.split(".", 1)
        if base not in FIELDS or not _is_dict_field(base):
            raise ConfigError(f"override {item!r}: {base!r} is not a dict field; valid keys: {sorted(FIELDS)}")
        out.setdefault(base, {})
        if not isinstance(out[base], dict):
            raise ConfigError(f"override {item!r} conflicts with {base}={out[base]!r}")
        out[base][sub] = value
    return out


def apply_overrides(base: TrainConfig, overrides: dict[str, Any] | list[str] | None) -> TrainConfig:
    """A validated copy of ``base`` with overrides; dict overrides of dict fields are merged, not replaced."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    data = base.to_dict()
    for key, value in (overrides or {}).items():
        if key == "preset":  # a preset sets many fields at once; as a plain value it would only relabel the run
            raise ConfigError(f"preset={value!r} is not an override; choose a preset with --preset {value}")
        if key not in FIELDS:
            raise ConfigError(unknown_key_message(key))
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return TrainConfig.from_dict(data, where="overrides")


def build_config(preset: str = "endoarss", overrides: dict[str, Any] | list[str] | None = None) -> TrainConfig:
    """Defaults <- preset <- overrides, validated."""
    base = TrainConfig.from_dict({**preset_fields(preset), "preset": preset}, where=f"preset {preset!r}")
    return apply_overrides(base, overrides)
