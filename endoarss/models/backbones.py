"""Backbones: frozen DINOv2 with LoRA (+ routed adapters, + optional SMA) and fine-tuned ResNet.

Both return a (B, C, h, w) feature map. The DINOv2 wrapper runs its own loop over the transformer
layers so that (a) the embeddings are computed once and repeated for the G groups of a batched
TESLA/expert pass, and (b) activation checkpointing can re-apply the adapter routing on recompute.
Frozen weights have requires_grad=False, so autograd keeps only what the LoRA/SMA gradients need.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from transformers import Dinov2Config, Dinov2Model, ResNetConfig, ResNetModel

from endoarss.errors import CheckpointError, ConfigError
from endoarss.models.checkpointing import checkpoint_segment
from endoarss.models.lora import AdapterRouting, LoRALinear, inject_lora
from endoarss.models.registry import backbone_config_for, backbone_spec
from endoarss.models.sma import SMA

# DINOv2 query/value projections: `q_proj`/`v_proj` in transformers 5, `query`/`value` in 4.x
# (older installs, e.g. a bare GPU box); no other Linear in the model carries these names.
LORA_TARGETS = ("q_proj", "v_proj", "query", "value")

# Keys that define the architecture; model.config stores exactly these so it stays small and stable.
_DINO_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "mlp_ratio",
    "patch_size",
    "image_size",
    "qkv_bias",
    "layerscale_value",
    "use_swiglu_ffn",
    "layer_norm_eps",
    "hidden_act",
    "num_channels",
)
_RESNET_KEYS = (
    "embedding_size",
    "hidden_sizes",
    "depths",
    "layer_type",
    "hidden_act",
    "downsample_in_first_stage",
    "downsample_in_bottleneck",
    "num_channels",
)


def _dino_config(config: dict[str, Any], attn_implementation: str) -> Dinov2Config:
    """Dinov2Config from our dict; ``intermediate_size`` (not a Dinov2Config field) -> mlp_ratio."""
    kwargs = dict(config)
    if "intermediate_size" in kwargs:
        inner, hidden = kwargs.pop("intermediate_size"), kwargs.get("hidden_size", 768)
        if inner % hidden:
            raise ConfigError(f"dinov2 intermediate_size {inner} must be a multiple of hidden_size {hidden}")
        kwargs["mlp_ratio"] = inner // hidden
    unknown = sorted(set(kwargs) - set(_DINO_KEYS))
    if unknown:
        raise ConfigError(f"unknown dinov2 backbone_config keys {unknown}; allowed {sorted(_DINO_KEYS)}")
    return Dinov2Config(**kwargs, attn_implementation=attn_implementation)


def _resnet_config(config: dict[str, Any]) -> ResNetConfig:
    unknown = sorted(set(config) - set(_RESNET_KEYS))
    if unknown:
        raise ConfigError(f"unknown resnet backbone_config keys {unknown}; allowed {sorted(_RESNET_KEYS)}")
    return ResNetConfig(**config)


def arch_dict(config: Dinov2Config | ResNetConfig) -> dict[str, Any]:
    """The architecture-defining subset of a transformers config, JSON-serialisable."""
    keys = _DINO_KEYS if isinstance(config, Dinov2Config) else _RESNET_KEYS
    out = {k: getattr(config, k) for k in keys}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def load_transformer(
    backbone: str, weights: str | None, config: dict[str, Any] | None, attn_implementation: str = "sdpa"
) -> Dinov2Model | ResNetModel:
    """Pretrained model from a local ``save_pretrained`` dir / hub id, else a random one from ``config``.

    When both are given, ``config`` must agree with the loaded weights (it is the expanded config a
    checkpoint recorded); a mismatch raises ConfigError instead of silently changing architecture.
    """
    dino = backbone_spec(backbone).family == "dinov2"
    wanted = None
    if config is not None:
        wanted = _dino_config(config, attn_implementation) if dino else _resnet_config(config)
    if weights is None:
        if wanted is None:
            shape = backbone_config_for(backbone, "base")
            wanted = _dino_config(shape, attn_implementation) if dino else _resnet_config(shape)
        return Dinov2Model(wanted) if dino else ResNetModel(wanted)
    try:
        if dino:
            model = Dinov2Model.from_pretrained(weights, attn_implementation=attn_implementation)
        else:
            model = ResNetModel.from_pretrained(weights)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot load {backbone} weights from {weights!r}: {err}") from err
    if wanted is not None and arch_dict(wanted) != arch_dict(model.config):
        raise ConfigError(
            f"backbone_config {arch_dict(wanted)} does not match the weights in {weights!r}: {arch_dict(model.config)}"
        )
    return model


class DinoBackbone(nn.Module):
    """Frozen DINOv2 + LoRA on q/v (+ optional routed adapter bank, + optional SMA in front).

    ``forward(images, groups, index, weights)`` runs G groups in one batched pass: the output holds
    G*B feature maps, group g at rows [g*B, (g+1)*B), group g computed with the adapter routing given
    (see :class:`AdapterRouting`). Patch tokens are returned as (G*B, D, H/14, W/14).
    """

    def __init__(
        self,
        model: Dinov2Model,
        rank: int,
        alpha: float,
        shared_lora: bool = True,
        num_adapters: int = 0,
        adapter_rank: int | None = None,
        sma: SMA | None = None,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.model = model.requires_grad_(False)
        self.routing = AdapterRouting()
        self.lora_layers: list[LoRALinear] = inject_lora(
            model, LORA_TARGETS, rank, alpha, shared_lora, num_adapters, self.routing, adapter_rank
        )
        self.sma = sma
        self.gradient_checkpointing = gradient_checkpointing
        self.out_channels: int = model.config.hidden_size
        patch = model.config.patch_size
        self.patch_size: int = patch if isinstance(patch, int) else patch[0]

    @property
    def num_adapters(self) -> int:
        """Routed adapters per adapted layer (one per task for TESLA, one per expert for MMoE)."""
        return self.lora_layers[0].num_adapters

    def adapter_parameters(self, i: int) -> list[nn.Parameter]:
        """Factors of routed adapter ``i`` in every adapted layer."""
        return [p for layer in self.lora_layers for p in layer.adapter_parameters(i)]

    def _run_layer(
        self, layer: nn.Module, hidden: Tensor, groups: int, index: Tensor | None, weights: Tensor | None
    ) -> Tensor:
        # The routing is re-applied here so a checkpointed layer recomputes with the same routing.
        with self.routing.use(groups, index, weights):
            return layer(hidden)

    def embed(self, images: Tensor) -> Tensor:
        """SMA (if any) + patch/position embeddings: (B, 1 + N, D), the input of the first layer."""
        h, w = images.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ConfigError(f"image size {h}x{w} is not a multiple of the patch size {self.patch_size}")
        pixels = self.sma(images) if self.sma is not None else images
        return self.model.embeddings(pixels.to(self.model.embeddings.cls_token.dtype))

    def encode(
        self, hidden: Tensor, groups: int = 1, index: Tensor | None = None, weights: Tensor | None = None
    ) -> Tensor:
        """Transformer layers + final norm over embedded tokens, with the given adapter routing."""
        if groups > 1:  # identical for every group up to the first adapted layer: embed once
            hidden = hidden.repeat(groups, 1, 1)
        for layer in self.model.encoder.layer:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hidden = checkpoint(self._run_layer, layer, hidden, groups, index, weights, use_reentrant=False)
            else:
                hidden = self._run_layer(layer, hidden, groups, index, weights)
        return self.model.layernorm(hidden)

    def tokens(
        self, images: Tensor, groups: int = 1, index: Tensor | None = None, weights: Tensor | None = None
    ) -> Tensor:
        """Final normalised tokens (G*B, 1 + N, D): CLS first, then patches in raster order."""
        return self.encode(self.embed(images), groups, index, weights)

    def feature_map(self, tokens: Tensor, images: Tensor) -> Tensor:
        """Patch tokens of :meth:`tokens` as a (G*B, D, H/14, W/14) map."""
        gh, gw = images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size
        # (B, h, w, D) -> (B, D, h, w) as a view: the result is channels_last in memory, which the
        # conv heads consume without a copy when the model runs channels_last.
        return tokens[:, 1:].reshape(tokens.shape[0], gh, gw, -1).permute(0, 3, 1, 2)

    def forward(
        self, images: Tensor, groups: int = 1, index: Tensor | None = None, weights: Tensor | None = None
    ) -> Tensor:
        return self.feature_map(self.tokens(images, groups, index, weights), images)


class ResNetBackbone(nn.Module):
    """Fine-tuned transformers ResNet; returns the last-stage feature map (B, C, H/32, W/32).

    Runs embedder + stages itself (transformers' ResNet has no gradient-checkpointing support), so
    ``gradient_checkpointing`` can recompute each stage in the backward pass.
    """

    def __init__(self, model: ResNetModel, gradient_checkpointing: bool = False) -> None:
        super().__init__()
        self.model = model
        self.gradient_checkpointing = gradient_checkpointing
        self.out_channels: int = model.config.hidden_sizes[-1]
        self.patch_size = 32  # total stride, used to size the ASPP rates

    def forward(self, images: Tensor) -> Tensor:
        hidden = self.model.embedder(images)
        for stage in self.model.encoder.stages:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hidden = checkpoint_segment(stage, stage, hidden)
            else:
                hidden = stage(hidden)
        return hidden
