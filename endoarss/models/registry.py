"""Model registries as data (no torch): the backbones, architectures and tasks that exist.

``endoarss.config`` and the CLI derive their choices from these dicts and ``endoarss.models.factory``
builds from them, so adding an architecture is one ``ARCHS`` entry plus its model class in
``archs.py`` (a ``from_options`` classmethod); adding a backbone is one ``BACKBONES`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from endoarss.errors import ConfigError

TASKS = ("activity", "segmentation")

_DINO_SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}
_RESNET_TINY = {"embedding_size": 16, "hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1], "layer_type": "basic"}


def _resnet_shape(depths: list[int]) -> dict[str, Any]:
    return {"embedding_size": 64, "hidden_sizes": [256, 512, 1024, 2048], "depths": depths, "layer_type": "bottleneck"}


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone name: its family (which wrapper builds it), random shapes and Hub checkpoints by size.

    ResNets carry their depth in the name, so their only sizes are ``base`` (the named depth) and
    ``tiny`` (a random test shape); DINOv2 takes ``backbone_size`` as its size.
    """

    family: str  # "dinov2" or "resnet"
    shapes: dict[str, dict[str, Any]]  # size -> config kwargs of a random backbone
    checkpoints: dict[str, str] = field(default_factory=dict)  # size -> the pretrained Hub checkpoint

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.shapes, *self.checkpoints]))


BACKBONES: dict[str, BackboneSpec] = {
    "dinov2": BackboneSpec(
        "dinov2",
        _DINO_SHAPES,
        {"small": "facebook/dinov2-small", "base": "facebook/dinov2-base", "large": "facebook/dinov2-large"},
    ),
    "resnet50": BackboneSpec(
        "resnet", {"tiny": _RESNET_TINY, "base": _resnet_shape([3, 4, 6, 3])}, {"base": "microsoft/resnet-50"}
    ),
    "resnet101": BackboneSpec(
        "resnet", {"tiny": _RESNET_TINY, "base": _resnet_shape([3, 4, 23, 3])}, {"base": "microsoft/resnet-101"}
    ),
}


@dataclass(frozen=True)
class ArchSpec:
    """An architecture name: its model class in ``endoarss.models.archs`` and its own options."""

    model: str  # class name in endoarss.models.archs; built with ``from_options``
    options: dict[str, Any] = field(default_factory=dict)  # arch-only create_model options and defaults
    single_task: bool = False  # trains exactly one task


ARCHS: dict[str, ArchSpec] = {
    "hps": ArchSpec("HPSModel"),
    "tesla": ArchSpec("TeslaModel", {"router": "task", "adapter_rank": None, "shared_lora": True}),
    "mmoe": ArchSpec("MMoEModel", {"num_experts": 4, "gate_pool": 32}),
    "dselect_k": ArchSpec("DSelectKModel", {"num_experts": 4, "k": 2, "gamma": 1.0, "gate_pool": 32}),
    "single": ArchSpec("HPSModel", single_task=True),
}

# Options every architecture accepts, with defaults (all JSON-serialisable; recorded in model.config).
COMMON_OPTIONS: dict[str, Any] = {
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


def backbone_spec(backbone: str) -> BackboneSpec:
    """The registry entry of ``backbone``; ConfigError listing the known names for any other."""
    if backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {backbone!r}; expected one of {list(BACKBONES)}")
    return BACKBONES[backbone]


def check_backbone_size(backbone: str, size: str) -> None:
    """ConfigError unless ``size`` exists for ``backbone``; for a ResNet it names the backbone to write."""
    spec = backbone_spec(backbone)
    if size in spec.sizes:
        return
    if spec.family == "resnet":
        fix = "backbone=resnet50" if size == "small" else "a backbone name with the depth you want"
        raise ConfigError(
            f"backbone={backbone} takes no backbone_size={size!r}: a ResNet's depth is in its name "
            f"({', '.join(n for n, s in BACKBONES.items() if s.family == 'resnet')}); write {fix} and drop "
            f"backbone_size (only {' or '.join(spec.sizes)} apply to ResNets)"
        )
    raise ConfigError(f"unknown backbone size {size!r} for {backbone}; expected one of {list(spec.sizes)}")


def backbone_config_for(backbone: str, size: str) -> dict[str, Any]:
    """Config kwargs of a random backbone of a named size ('tiny', 'small', 'base')."""
    check_backbone_size(backbone, size)
    spec = BACKBONES[backbone]
    if size not in spec.shapes:
        raise ConfigError(f"no random {backbone} shape for size {size!r}; expected one of {sorted(spec.shapes)}")
    config = dict(spec.shapes[size])
    if spec.family == "dinov2":  # real DINOv2 checkpoints use 518 px position embeddings
        config.update(patch_size=14, image_size=56 if size == "tiny" else 518)
    return config
