"""``create_model``: builds any registered backbone x architecture by lookup in ``endoarss.models.registry``."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from endoarss.errors import ConfigError
from endoarss.models import archs
from endoarss.models.archs import MultiTaskModel
from endoarss.models.backbones import DinoBackbone, ResNetBackbone, arch_dict, load_transformer
from endoarss.models.conv_tesla import ResNetTeslaBackbone
from endoarss.models.heads import build_head
from endoarss.models.registry import ARCHS, COMMON_OPTIONS, TASKS, backbone_spec
from endoarss.models.sma import SMA


def _check(backbone: str, arch: str, tasks: list[str], sma: bool, rank: int) -> None:
    """Argument checks for direct Python callers (``TrainConfig`` checks the same rules for runs)."""
    spec = backbone_spec(backbone)
    if arch not in ARCHS:
        raise ConfigError(f"unknown arch {arch!r}; expected one of {list(ARCHS)}")
    if not tasks or len(set(tasks)) != len(tasks) or any(t not in TASKS for t in tasks):
        raise ConfigError(f"tasks must be distinct names from {TASKS}, got {tasks}")
    if ARCHS[arch].single_task and len(tasks) != 1:
        raise ConfigError(f"arch {arch!r} takes exactly one task, got {tasks}")
    if spec.family != "dinov2" and sma:
        raise ConfigError("SMA attaches to DINOv2's patch embedding; use backbone='dinov2' or sma=False")
    if rank < 1:
        raise ConfigError(f"rank must be >= 1, got {rank}")


def _dino_extractor(
    base: nn.Module, arch: str, n_tasks: int, rank: int, alpha: float, sma: bool, opts: dict[str, Any], reload: Any
) -> nn.Module:
    del reload  # experts share ONE frozen DINOv2 (they differ only in their LoRA)
    block = None
    if sma:
        block = SMA(
            3,
            opts["sma_kernel"],
            opts["sma_dim"],
            opts["sma_patch"],
            opts["sma_ema_groups"],
            checkpointing=opts["gradient_checkpointing"],
        )
    if arch == "tesla":
        adapters, shared = n_tasks, opts["shared_lora"]
    else:  # experts: no shared LoRA, one adapter per expert; otherwise one shared LoRA
        n_experts = opts.get("num_experts", 0)
        adapters, shared = (n_experts, False) if n_experts else (0, True)
    return DinoBackbone(
        base, rank, alpha, shared, adapters, opts.get("adapter_rank"), block, opts["gradient_checkpointing"]
    )


def _resnet_extractor(
    base: nn.Module, arch: str, n_tasks: int, rank: int, alpha: float, sma: bool, opts: dict[str, Any], reload: Any
) -> nn.Module:
    del sma  # rejected by _check
    checkpointing = opts["gradient_checkpointing"]
    if arch == "tesla":  # fine-tuned ResNet + task conv adapters (no shared LoRA: shared_lora unused)
        return ResNetTeslaBackbone(base, n_tasks, opts["adapter_rank"] or rank, alpha, checkpointing)
    n_experts = opts.get("num_experts", 0)
    if n_experts:  # ResNet experts are independent networks (as in LibMTL)
        models = [base, *(reload() for _ in range(n_experts - 1))]
        return nn.ModuleList([ResNetBackbone(m, checkpointing) for m in models])
    return ResNetBackbone(base, checkpointing)


# Backbone family (registry.BackboneSpec.family) -> how its feature extractor is built for an arch.
EXTRACTORS = {"dinov2": _dino_extractor, "resnet": _resnet_extractor}


def create_model(
    backbone: str = "dinov2",
    arch: str = "hps",
    tasks: tuple[str, ...] | list[str] = TASKS,
    num_activities: int = 12,
    num_classes: int = 8,
    sma: bool = False,
    rank: int = 4,
    weights: str | None = None,
    backbone_config: dict[str, Any] | None = None,
    **arch_kwargs: Any,
) -> MultiTaskModel:
    """Build a multi-task model; ``create_model(**model.config)`` rebuilds the same architecture.

    ``weights``: local ``save_pretrained`` dir (or hub id when online) of the backbone;
    ``backbone_config``: config kwargs of a random backbone (see ``backbone_config_for``). With neither,
    a random backbone of the name's ``base`` shape is built; nothing is downloaded. Extra options:
    ``COMMON_OPTIONS`` and the arch's ``ARCHS[arch].options``; unknown ones raise ConfigError.
    """
    tasks = list(tasks)
    _check(backbone, arch, tasks, sma, rank)
    allowed = {**COMMON_OPTIONS, **ARCHS[arch].options}
    unknown = sorted(set(arch_kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown options {unknown} for arch {arch!r}; allowed {sorted(allowed)}")
    opts = {**allowed, **arch_kwargs}
    alpha = float(opts["lora_alpha"] if opts["lora_alpha"] is not None else rank)

    base = load_transformer(backbone, weights, backbone_config, opts["attn_implementation"])
    expanded = arch_dict(base.config)
    build_extractor = EXTRACTORS[backbone_spec(backbone).family]
    extractor = build_extractor(
        base, arch, len(tasks), rank, alpha, sma, opts, lambda: load_transformer(backbone, weights, backbone_config)
    )
    first = extractor[0] if isinstance(extractor, nn.ModuleList) else extractor
    feature_size = max(1, opts["image_size"] // first.patch_size)
    rates = tuple(opts["aspp_rates"]) if opts["aspp_rates"] else None
    heads = nn.ModuleDict(
        {
            t: build_head(
                t, first.out_channels, num_activities, num_classes, feature_size, opts["head_channels"], rates
            )
            for t in tasks
        }
    )
    model: MultiTaskModel = getattr(archs, ARCHS[arch].model).from_options(tasks, extractor, heads, opts)
    model.config = copy.deepcopy(
        {
            "backbone": backbone,
            "arch": arch,
            "tasks": tasks,
            "num_activities": num_activities,
            "num_classes": num_classes,
            "sma": sma,
            "rank": rank,
            "weights": None if weights is None else str(weights),
            "backbone_config": expanded,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
        }
    )
    return model
