"""``create_model``: the one entry point that builds every backbone x architecture combination."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from endoarss.errors import ConfigError
from endoarss.models.archs import DSelectKModel, HPSModel, MMoEModel, MultiTaskModel, TeslaModel
from endoarss.models.backbones import DinoBackbone, ResNetBackbone, arch_dict, load_transformer
from endoarss.models.conv_tesla import ResNetTeslaBackbone
from endoarss.models.heads import build_head
from endoarss.models.sma import SMA

BACKBONES = ("dinov2", "resnet101")
ARCHS = ("single", "hps", "tesla", "mmoe", "dselect_k")
TASKS = ("activity", "segmentation")

# Options every architecture accepts, with defaults (all JSON-serialisable; recorded in model.config).
_COMMON: dict[str, Any] = {
    "lora_alpha": None,  # None -> alpha = rank (scaling 1)
    "image_size": 224,  # expected input size; sizes the ASPP rates to the feature map
    "head_channels": 256,
    "aspp_rates": None,  # None -> DeepLabV3's 12/24/36 scaled to the feature-map size
    "gradient_checkpointing": False,
    "attn_implementation": "sdpa",
    "sma_kernel": 3,
    "sma_dim": 16,  # measured trade-off, see docs/sma.md
    "sma_patch": 2,
    "sma_ema_groups": 1,
}
_PER_ARCH: dict[str, dict[str, Any]] = {
    "single": {},
    "hps": {},
    "tesla": {"router": "task", "adapter_rank": None, "shared_lora": True},
    "mmoe": {"num_experts": 4, "gate_pool": 32},
    "dselect_k": {"num_experts": 4, "k": 2, "gamma": 1.0, "gate_pool": 32},
}


def _check(backbone: str, arch: str, tasks: list[str], sma: bool, rank: int) -> None:
    if backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {backbone!r}; expected one of {BACKBONES}")
    if arch not in ARCHS:
        raise ConfigError(f"unknown arch {arch!r}; expected one of {ARCHS}")
    if not tasks or len(set(tasks)) != len(tasks) or any(t not in TASKS for t in tasks):
        raise ConfigError(f"tasks must be distinct names from {TASKS}, got {tasks}")
    if arch == "single" and len(tasks) != 1:
        raise ConfigError(f"arch 'single' takes exactly one task, got {tasks}")
    if backbone == "resnet101" and sma:
        raise ConfigError("SMA attaches to DINOv2's patch embedding; use backbone='dinov2' or sma=False")
    if rank < 1:
        raise ConfigError(f"rank must be >= 1, got {rank}")


def create_model(
    backbone: str = "dinov2",
    arch: str = "hps",
    tasks: tuple[str, ...] | list[str] = ("activity", "segmentation"),
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
    a random ViT-B/14 (or ResNet-101) is built; nothing is downloaded. Extra options: ``_COMMON`` and
    the arch's entry of ``_PER_ARCH``; unknown ones raise ConfigError.
    """
    tasks = list(tasks)
    _check(backbone, arch, tasks, sma, rank)
    allowed = {**_COMMON, **_PER_ARCH[arch]}
    unknown = sorted(set(arch_kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown options {unknown} for arch {arch!r}; allowed {sorted(allowed)}")
    opts = {**allowed, **arch_kwargs}
    alpha = float(opts["lora_alpha"] if opts["lora_alpha"] is not None else rank)

    base = load_transformer(backbone, weights, backbone_config, opts["attn_implementation"])
    expanded = arch_dict(base.config)
    n_experts = opts.get("num_experts", 0)

    def dino(num_adapters: int, shared: bool) -> DinoBackbone:
        block = None
        if sma:
            block = SMA(
                3, opts["sma_kernel"], opts["sma_dim"], opts["sma_patch"], opts["sma_ema_groups"],
                checkpointing=opts["gradient_checkpointing"],
            )  # fmt: skip
        return DinoBackbone(
            base, rank, alpha, shared, num_adapters, opts.get("adapter_rank"), block, opts["gradient_checkpointing"]
        )

    def resnet(model: nn.Module) -> ResNetBackbone:
        return ResNetBackbone(model, opts["gradient_checkpointing"])

    if backbone == "dinov2":
        if arch == "tesla":
            extractor = dino(len(tasks), opts["shared_lora"])
        else:  # experts differ only in their LoRA: no shared LoRA, one adapter per expert
            extractor = dino(n_experts, False) if n_experts else dino(0, True)
    elif arch == "tesla":  # fine-tuned ResNet + task conv adapters (no shared LoRA: shared_lora unused)
        adapter_rank = opts["adapter_rank"] or rank
        extractor = ResNetTeslaBackbone(base, len(tasks), adapter_rank, alpha, opts["gradient_checkpointing"])
    elif n_experts:  # ResNet experts are independent networks (as in LibMTL)
        extra = [load_transformer(backbone, weights, backbone_config) for _ in range(n_experts - 1)]
        extractor = nn.ModuleList([resnet(m) for m in [base, *extra]])
    else:
        extractor = resnet(base)

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

    if arch in ("single", "hps"):
        model: MultiTaskModel = HPSModel(tasks, extractor, heads)
    elif arch == "tesla":
        model = TeslaModel(tasks, extractor, heads, opts["router"])
    elif arch == "mmoe":
        model = MMoEModel(tasks, extractor, heads, n_experts, opts["gate_pool"])
    else:
        model = DSelectKModel(tasks, extractor, heads, n_experts, opts["k"], opts["gamma"], opts["gate_pool"])

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
