"""Training configuration: one flat dataclass, presets (``endoarss.config.presets``) applied over it, overrides, YAML.

A RUN folder stores the fully resolved config as ``config.yaml``; loading it back gives an equal
``TrainConfig``, so a run can always be rebuilt from its folder. Defaults follow the paper's public
release (LibMTL trainer): Adam, weight decay 1e-4, StepLR (step 100 epochs, gamma 0.5) stepped per
epoch, batch 16, lr 1e-3 (MTLEndovis/-Gen) or 1e-4 (MTLESD).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from endoarss.config.presets import PRESETS, TASKS, WEIGHTINGS, describe_preset, preset_fields
from endoarss.errors import ConfigError

ARCHS = ("hps", "tesla", "mmoe", "dselect_k", "single")
BACKBONES = ("dinov2", "resnet101")
AMP_MODES = ("bf16", "fp16", "none")
SCHEDULERS = ("step", "cosine", "constant")
BEST_METRICS = ("miou", "miou_fg", "dice", "dice_fg", "ac", "f1", "ssim", "hd", "hd95")  # hd*: lower is better
# Learning rate used when `lr` is not given, by dataset name (manifest `dataset`); others use the default.
LR_BY_DATASET = {"mtlendovis": 1e-3, "mtlendovis-gen": 1e-3, "mtlesd": 1e-4}
DEFAULT_LR = 1e-3


__all__ = ["PRESETS", "TASKS", "WEIGHTINGS", "TrainConfig", "apply_overrides", "build_config", "describe_preset",
           "parse_overrides"]  # fmt: skip


@dataclass
class TrainConfig:
    """Every knob of a training run. ``None`` means "resolved at train time" (see :meth:`resolved`)."""

    preset: str = "endoarss"
    # model
    backbone: str = "dinov2"
    backbone_size: str = "base"
    backbone_config: dict[str, Any] | None = None  # overrides a size (tests/demo use tiny configs)
    weights: str | None = None  # local save_pretrained dir / hub cache of the pretrained backbone
    arch: str = "tesla"
    sma: bool = True
    sma_dim: int = 16  # SMA width d; 16 from a measured speed/memory/accuracy trade-off (docs/sma.md)
    rank: int = 4
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = TASKS
    # loss weighting
    weighting: str = "db_mtl"
    weighting_kwargs: dict[str, Any] = field(default_factory=dict)
    # data
    image_size: tuple[int, int] = (224, 224)
    augment: bool = True
    hflip: bool = True
    scale_range: tuple[float, float] = (1.0, 1.5)
    color_jitter: float = 0.2
    num_workers: int = 4
    eval_split: str = "test"
    cache: str = "auto"  # decoded-sample cache: auto | off | a folder (endoarss.data.sample_cache)
    verify: bool = True  # check manifest hashes, PNG signatures and mask values before/while reading
    # optimisation
    batch_size: int = 16
    eval_batch_size: int = 16
    epochs: int = 200
    lr: float | None = None
    weight_decay: float = 1e-4
    scheduler: str = "step"
    step_size: int = 100
    gamma: float = 0.5
    seed: int = 42
    amp: str = "bf16"  # used on GPU only; CPU runs in float32
    # bookkeeping
    best_metric: str | None = None  # None: miou if segmentation is trained, else ac
    eval_every: int = 1  # epochs; 0 = only after the last epoch
    checkpoint_every: int = 0  # optimizer steps; 0 = only at the end of each epoch
    max_steps: int = 0  # stop after this many optimizer steps (0 = no limit); for smoke tests

    # ------------------------------------------------------------------ validation / resolution
    def validate(self) -> TrainConfig:
        """Raise ConfigError on an unknown choice or an inconsistent combination; return self."""
        _choice("backbone", self.backbone, BACKBONES)
        _choice("arch", self.arch, ARCHS)
        _choice("weighting", self.weighting, WEIGHTINGS)
        _choice("amp", self.amp, AMP_MODES)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        if not self.tasks or any(t not in TASKS for t in self.tasks) or len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"tasks must be a non-empty subset of {list(TASKS)}, got {list(self.tasks)}")
        if (self.arch == "single") != (len(self.tasks) == 1):
            raise ConfigError(
                f"arch 'single' needs exactly one task and vice versa (arch={self.arch!r}, tasks={list(self.tasks)})"
            )
        if self.backbone == "resnet101" and self.sma:
            raise ConfigError("sma attaches to DINOv2's patch embedding; use backbone=dinov2 (or sma=false)")
        for name in ("batch_size", "eval_batch_size", "epochs", "rank", "step_size", "sma_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size == 1:  # BatchNorm in the heads cannot normalise a single sample in training
            raise ConfigError("batch_size must be >= 2: the heads' BatchNorm cannot train on 1-sample batches")
        for name in ("num_workers", "eval_every", "checkpoint_every", "max_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        h, w = self.image_size
        if self.backbone == "dinov2" and (h % 14 or w % 14):
            raise ConfigError(f"image_size must be multiples of 14 for dinov2 patches, got {h}x{w}")
        if self.best_metric is not None and self.best_metric not in BEST_METRICS:
            raise ConfigError(f"best_metric={self.best_metric!r} is not one of {list(BEST_METRICS)}")
        if not self.cache.strip():
            raise ConfigError("cache must be auto, off or a folder, got an empty value")
        lo, hi = self.scale_range
        if not 1.0 <= lo <= hi:
            raise ConfigError(f"scale_range must satisfy 1 <= lo <= hi, got {self.scale_range}")
        return self

    def resolved(self, dataset: str) -> TrainConfig:
        """A validated copy with dataset-dependent defaults (lr, best_metric) filled in."""
        out = dataclasses.replace(self)
        if out.lr is None:
            out.lr = LR_BY_DATASET.get(dataset, DEFAULT_LR)
        if out.best_metric is None:
            out.best_metric = "miou" if "segmentation" in out.tasks else "ac"
        return out.validate()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {sorted(_FIELDS)}")
        values = {k: _coerce(k, v, where) for k, v in data.items()}
        return cls(**values).validate()

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(data).__name__}")
        return cls.from_dict(data, where=str(path))


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {list(allowed)}")


def _coerce(key: str, value: Any, where: str) -> Any:
    """Check ``value`` against the field type hint; convert lossless cases (list→tuple, int→float)."""
    hint = _HINTS[key]
    if key == "cache" and isinstance(value, bool):  # YAML reads `cache=off` / `cache: on` as booleans
        value = "auto" if value else "off"
    try:
        return _coerce_to(hint, value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}={value!r} is not a valid {_hint_name(hint)}") from None


def _coerce_to(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce_to(arg, value)
            except (TypeError, ValueError):
                continue
        raise TypeError
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, list | tuple):
            value = [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce_to(args[0], v) for v in value)
        if len(value) == 1 and len(args) > 1:  # "224" → (224, 224)
            value = list(value) * len(args)
        if len(value) != len(args):
            raise ValueError
        return tuple(_coerce_to(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            raise TypeError
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    raise TypeError


def _is_dict_field(name: str) -> bool:
    hint = _HINTS[name]
    return typing.get_origin(hint) is dict or any(typing.get_origin(a) is dict for a in typing.get_args(hint))


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-4", "weighting_kwargs.beta=0.5"]`` → a dict; values are YAML scalars/flow collections.

    A dotted key sets one entry of a dict field. Keys and value types are checked by :func:`build_config`.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value; valid keys: {sorted(_FIELDS)}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if "." in key:
            base, sub = key.split(".", 1)
            if base not in _FIELDS or not _is_dict_field(base):
                raise ConfigError(f"override {item!r}: {base!r} is not a dict field; valid keys: {sorted(_FIELDS)}")
            out.setdefault(base, {})
            if not isinstance(out[base], dict):
                raise ConfigError(f"override {item!r} conflicts with {base}={out[base]!r}")
            out[base][sub] = value
        else:
            out[key] = value
    return out


def apply_overrides(base: TrainConfig, overrides: dict[str, Any] | list[str] | None) -> TrainConfig:
    """A validated copy of ``base`` with overrides; dict overrides of dict fields are merged, not replaced."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    data = base.to_dict()
    for key, value in (overrides or {}).items():
        if key == "preset":  # a preset sets many fields at once; as a plain value it would only relabel the run
            raise ConfigError(f"preset={value!r} is not an override; choose a preset with --preset {value}")
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"unknown config key {key!r}; {hint}valid keys: {sorted(_FIELDS)}")
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return TrainConfig.from_dict(data, where="overrides")


def build_config(preset: str = "endoarss", overrides: dict[str, Any] | list[str] | None = None) -> TrainConfig:
    """Defaults <- preset <- overrides, validated."""
    base = TrainConfig.from_dict({**preset_fields(preset), "preset": preset}, where=f"preset {preset!r}")
    return apply_overrides(base, overrides)
