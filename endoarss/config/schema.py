"""Training configuration: one flat pydantic model, presets (``endoarss.config.presets``) applied over it, YAML.

A RUN folder stores the fully resolved config as ``config.yaml``; loading it back gives an equal
``TrainConfig``, so a run can always be rebuilt from its folder. Defaults follow the paper's public
release (LibMTL trainer): Adam, weight decay 1e-4, StepLR (step 100 epochs, gamma 0.5) stepped per
epoch, batch 16, lr 1e-3 (MTLEndovis/-Gen) or 1e-4 (MTLESD). Choices come from the registries
(``endoarss.models.registry``, ``endoarss.weighting``, ``endoarss.config.choices``); pydantic's
errors are turned into one ``ConfigError`` line per problem. ``key=value`` overrides live in
``endoarss.config.overrides``.
"""

from __future__ import annotations

import difflib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from endoarss.config.choices import AMP_MODES, BEST_METRICS, SCHEDULERS
from endoarss.config.presets import TASKS, WEIGHTINGS
from endoarss.errors import ConfigError
from endoarss.models.registry import ARCHS, BACKBONES, backbone_spec, check_backbone_size

# Learning rate used when `lr` is not given, by dataset name (manifest `dataset`); others use the default.
LR_BY_DATASET = {"mtlendovis": 1e-3, "mtlendovis-gen": 1e-3, "mtlesd": 1e-4}
DEFAULT_LR = 1e-3
# Where the values being validated came from (a file, "overrides"), for the error message.
_WHERE: ContextVar[str] = ContextVar("config_source", default="config")

Backbone = Literal[tuple(BACKBONES)]  # type: ignore[valid-type]
Arch = Literal[tuple(ARCHS)]  # type: ignore[valid-type]
WeightingName = Literal[tuple(WEIGHTINGS)]  # type: ignore[valid-type]
Task = Literal[TASKS]  # type: ignore[valid-type]
Amp = Literal[AMP_MODES]  # type: ignore[valid-type]
Scheduler = Literal[SCHEDULERS]  # type: ignore[valid-type]
BestMetric = Literal[BEST_METRICS]  # type: ignore[valid-type]


def _not_bool(kind: str) -> BeforeValidator:
    """Pydantic reads true/false as 1/0; a YAML boolean given for a number is a mistake."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(kind, "Input should be a number, not a boolean")
        return value

    return BeforeValidator(check)


Int = Annotated[int, _not_bool("int_type")]
Float = Annotated[float, _not_bool("float_type")]
Positive = Annotated[Int, Field(ge=1)]
NonNegative = Annotated[Int, Field(ge=0)]


class TrainConfig(BaseModel):
    """Every knob of a training run. ``None`` means "resolved at train time" (see :meth:`resolved`)."""

    model_config = ConfigDict(extra="forbid", validate_default=False)

    preset: str = "endoarss"
    # model
    backbone: Backbone = "dinov2"
    backbone_size: str = "base"  # DINOv2: tiny/small/base/large; ResNets: base (the named depth) or tiny
    backbone_config: dict[str, Any] | None = None  # overrides a size (tests/demo use tiny configs)
    weights: str | None = None  # local save_pretrained dir / hub cache of the pretrained backbone
    arch: Arch = "tesla"
    sma: StrictBool = True
    sma_dim: Positive = 16  # SMA width d; 16 from a measured speed/memory/accuracy trade-off (docs/sma.md)
    rank: Positive = 4
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)
    tasks: tuple[Task, ...] = TASKS
    # loss weighting
    weighting: WeightingName = "db_mtl"
    weighting_kwargs: dict[str, Any] = Field(default_factory=dict)
    # data
    image_size: tuple[int, int] = (224, 224)
    augment: StrictBool = True
    hflip: StrictBool = True
    scale_range: tuple[float, float] = (1.0, 1.5)
    color_jitter: Float = 0.2
    num_workers: NonNegative = 4
    eval_split: str = "test"
    cache: str = "auto"  # decoded-sample cache: auto | off | a folder (endoarss.data.sample_cache)
    verify: StrictBool = True  # check manifest hashes, PNG signatures and mask values before/while reading
    # optimisation
    batch_size: Positive = 16
    eval_batch_size: Positive = 16
    epochs: Positive = 200
    lr: Float | None = None
    weight_decay: Float = 1e-4
    scheduler: Scheduler = "step"
    step_size: Positive = 100
    gamma: Float = 0.5
    seed: Int = 42
    amp: Amp = "bf16"  # used on GPU only; CPU runs in float32
    # bookkeeping
    best_metric: BestMetric | None = None  # None: miou if segmentation is trained, else ac
    eval_every: NonNegative = 1  # epochs; 0 = only after the last epoch
    checkpoint_every: NonNegative = 0  # optimizer steps; 0 = only at the end of each epoch
    max_steps: NonNegative = 0  # stop after this many optimizer steps (0 = no limit); for smoke tests

    def __init__(self, **data: Any) -> None:
        # pydantic routes model_validate through a custom __init__ too, so this is the one conversion point
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(describe_errors(err, _WHERE.get())) from None

    # ------------------------------------------------------------------ coercion of CLI / YAML values
    @field_validator("tasks", "image_size", "scale_range", mode="before")
    @classmethod
    def _sequence(cls, value: Any, info: Any) -> Any:
        """``"a,b"`` → ``["a", "b"]``; a scalar → one item; ``224`` → ``(224, 224)`` for a pair."""
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, list | tuple):
            value = [value]
        if info.field_name != "tasks" and len(value) == 1:
            value = list(value) * 2
        return value

    @field_validator("cache", mode="before")
    @classmethod
    def _yaml_switch(cls, value: Any) -> Any:
        """YAML reads `cache=off` / `cache: on` as booleans."""
        return ("auto" if value else "off") if isinstance(value, bool) else value

    # ------------------------------------------------------------------ cross-field rules
    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"tasks must be a non-empty subset of {list(TASKS)}, got {list(self.tasks)}")
        if ARCHS[self.arch].single_task != (len(self.tasks) == 1):
            raise ConfigError(
                f"arch 'single' needs exactly one task and vice versa (arch={self.arch!r}, tasks={list(self.tasks)})"
            )
        check_backbone_size(self.backbone, self.backbone_size)
        dino = backbone_spec(self.backbone).family == "dinov2"
        if not dino and self.sma:
            raise ConfigError("sma attaches to DINOv2's patch embedding; use backbone=dinov2 (or sma=false)")
        if self.batch_size == 1:  # BatchNorm in the heads cannot normalise a single sample in training
            raise ConfigError("batch_size must be >= 2: the heads' BatchNorm cannot train on 1-sample batches")
        h, w = self.image_size
        if dino and (h % 14 or w % 14):
            raise ConfigError(f"image_size must be multiples of 14 for dinov2 patches, got {h}x{w}")
        if not self.cache.strip():
            raise ConfigError("cache must be auto, off or a folder, got an empty value")
        lo, hi = self.scale_range
        if not 1.0 <= lo <= hi:
            raise ConfigError(f"scale_range must satisfy 1 <= lo <= hi, got {self.scale_range}")
        return self

    # ------------------------------------------------------------------ resolution / serialisation
    def resolved(self, dataset: str) -> TrainConfig:
        """A validated copy with dataset-dependent defaults (lr, best_metric) filled in."""
        lr = self.lr if self.lr is not None else LR_BY_DATASET.get(dataset, DEFAULT_LR)
        best = self.best_metric or ("miou" if "segmentation" in self.tasks else "ac")
        return TrainConfig.from_dict({**self.to_dict(), "lr": lr, "best_metric": best})

    def to_dict(self) -> dict[str, Any]:
        """Field order, tuples as lists: what ``config.yaml`` holds."""
        data = self.model_dump()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        token = _WHERE.set(where)
        try:
            return cls(**data)
        finally:
            _WHERE.reset(token)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(data).__name__}")
        return cls.from_dict(data, where=str(path))


FIELDS = tuple(TrainConfig.model_fields)


def unknown_key_message(key: str) -> str:
    """``unknown config key 'x'; did you mean 'y'? valid keys: [...]``."""
    close = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown config key {key!r}; {hint}valid keys: {sorted(FIELDS)}"


_TYPE_NAMES = ("int", "float", "bool", "string", "dict", "tuple")  # prefixes of pydantic's error kinds


def describe_errors(err: ValidationError, where: str) -> str:
    """One line per problem, naming the key, the bad value and what is allowed (no pydantic URLs)."""
    lines = []
    for problem in err.errors(include_url=False):
        key = ".".join(str(part) for part in problem["loc"][:1]) or "config"
        value, kind, ctx = problem.get("input"), problem["type"], problem.get("ctx", {})
        if kind == "extra_forbidden":
            lines.append(unknown_key_message(key))
        elif kind == "literal_error" and len(problem["loc"]) > 1:  # an item of a tuple field (tasks)
            lines.append(f"{key} must be a non-empty subset of {list(typing_choices(key))}; {value!r} is not in it")
        elif kind == "literal_error":
            lines.append(f"{key}={value!r} is not one of {list(typing_choices(key))}")
        elif kind == "greater_than_equal":
            lines.append(f"{key} must be >= {ctx.get('ge')}, got {value!r}")
        else:
            expected = kind.split("_")[0] if kind.split("_")[0] in _TYPE_NAMES else None
            detail = f"is not a valid {expected}" if expected else problem["msg"]
            lines.append(f"{key}={value!r} {detail}")
    lines = list(dict.fromkeys(lines))  # a bad item of a tuple is reported once per key
    return f"{where}: " + ("; ".join(lines) if len(lines) == 1 else "\n  " + "\n  ".join(lines))


def typing_choices(key: str) -> tuple[str, ...]:
    """The allowed values of a Literal field (also inside tuple/Optional), from the registries."""
    import typing

    def literals(hint: Any) -> tuple[str, ...]:
        if typing.get_origin(hint) is Literal:
            return typing.get_args(hint)
        return tuple(v for arg in typing.get_args(hint) for v in literals(arg))

    return literals(TrainConfig.model_fields[key].annotation)
