"""LoRA layer and frozen-DINOv2 wrapper: exact no-op at init, hand-checked formula, trainable set."""

from __future__ import annotations

import torch
from torch import nn
from transformers import Dinov2Config, Dinov2Model

from endoarss.models import backbone_config_for, create_model
from endoarss.models.backbones import DinoBackbone
from endoarss.models.lora import AdapterRouting, LoRALinear


def _tiny_dino(seed: int = 0) -> Dinov2Model:
    torch.manual_seed(seed)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=56)
    return Dinov2Model(cfg).eval()


def test_lora_linear_matches_hand_formula() -> None:
    base = nn.Linear(3, 2)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]]))
        base.bias.copy_(torch.tensor([0.5, -0.5]))
    layer = LoRALinear(base, rank=1, alpha=2.0, shared=True, num_adapters=0, routing=AdapterRouting())
    with torch.no_grad():
        layer.lora_A.copy_(torch.tensor([[1.0, 1.0, 0.0]]))
        layer.lora_B.copy_(torch.tensor([[1.0], [3.0]]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    # W0 x + b = [7.5, 0.5]; A x = 3; (alpha/r) B A x = 2 * [3, 9] = [6, 18]
    assert torch.equal(layer(x), torch.tensor([[13.5, 18.5]]))
    assert not base.weight.requires_grad and not base.bias.requires_grad


def test_lora_with_zero_b_reproduces_frozen_dinov2_exactly() -> None:
    model = _tiny_dino()
    images = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        expected = model(pixel_values=images).last_hidden_state
    backbone = DinoBackbone(model, rank=4, alpha=4.0).eval()
    with torch.no_grad():
        tokens = backbone.tokens(images)
        fmap = backbone(images)
    assert torch.equal(tokens, expected)
    # feature map = patch tokens in raster order: token 1 + (i * 4 + j) is pixel (i, j) of the 4x4 map
    assert fmap.shape == (2, 32, 4, 4)
    assert torch.equal(fmap[1, :, 2, 3], expected[1, 1 + 2 * 4 + 3])
    # a non-zero B changes the output: the LoRA path is really wired into the attention
    with torch.no_grad():
        backbone.lora_layers[0].lora_B.fill_(0.1)
        assert (backbone.tokens(images) - expected).abs().max() > 1e-3


def test_only_lora_sma_heads_are_trainable_for_dinov2() -> None:
    allowed = ("lora_A", "lora_B", "adapter_A", "adapter_B", "sma.", "heads.", "gates.", "z_logits.", "w_logits.")
    for arch in ("single", "hps", "tesla", "mmoe", "dselect_k"):
        tasks = ["activity"] if arch == "single" else ["activity", "segmentation"]
        model = create_model(
            "dinov2", arch, tasks=tasks, sma=True, backbone_config=backbone_config_for("dinov2", "tiny"),
            image_size=56, head_channels=16,
        )  # fmt: skip
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        assert names and all(any(a in n for a in allowed) for n in names), arch
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
        # every original DINOv2 tensor (embeddings 5 + 2 layers x 18 + final norm 2) stays frozen
        assert len(frozen) == len(list(_tiny_dino().parameters())) == 43, arch
        assert any("sma." in n for n in names)
        # shared + task parameters partition the trainable ones exactly
        shared = model.shared_parameters()
        per_task = [p for ps in model.task_parameters().values() for p in ps]
        ids = [id(p) for p in shared + per_task]
        assert len(ids) == len(set(ids)) == len(names), arch
