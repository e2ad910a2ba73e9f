"""MMoE / DSelect-k: gates are distributions, experts cost LoRA (DINOv2) or a full copy (ResNet)."""

from __future__ import annotations

import torch

from endoarss.models import backbone_config_for, create_model
from endoarss.models.archs import DSelectKModel


def _model(backbone: str, arch: str, experts: int, **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(
        backbone, arch, backbone_config=backbone_config_for(backbone, "tiny"), image_size=56, head_channels=16,
        num_experts=experts, gate_pool=8, **kw,
    )  # fmt: skip


def _count(model: torch.nn.Module, trainable: bool | None = None) -> int:
    return sum(p.numel() for p in model.parameters() if trainable is None or p.requires_grad == trainable)


def test_gates_sum_to_one_and_mix_experts() -> None:
    images = torch.randn(3, 3, 56, 56)
    for arch in ("mmoe", "dselect_k"):
        model = _model("dinov2", arch, 4)
        with torch.no_grad():
            gates = model.gate_weights(images)
            experts = model.expert_features(images)
            feats = model.task_features(images)
        for task, g in gates.items():
            assert g.shape == (3, 4) and (g >= 0).all()
            torch.testing.assert_close(g.sum(-1), torch.ones(3))
            mix = sum(g[:, e, None, None, None] * experts[e] for e in range(4))
            torch.testing.assert_close(feats[task], mix)


def test_dselect_smooth_step_and_selectors() -> None:
    model = _model("dinov2", "dselect_k", 4, k=1)
    assert isinstance(model, DSelectKModel) and model.num_bits == 2
    t = torch.tensor([-1.0, -0.5, 0.0, 0.25, 0.5, 2.0])
    # -2 t^3 + 1.5 t + 0.5 inside [-1/2, 1/2]; 0.25 -> -0.03125 + 0.375 + 0.5
    torch.testing.assert_close(model.smooth_step(t), torch.tensor([0.0, 0.0, 0.5, 0.84375, 1.0, 1.0]))
    assert model.binary_codes.tolist() == [[False, False], [False, True], [True, False], [True, True]]
    with torch.no_grad():  # saturate the bits to (1, 0): the single selector must pick expert 2
        model.z_logits["activity"].weight.zero_()
        model.z_logits["activity"].bias.copy_(torch.tensor([5.0, -5.0]))
    gates = model.gate_weights(torch.randn(2, 3, 56, 56))["activity"]
    assert torch.equal(gates, torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 2))


def test_dinov2_experts_share_frozen_weights_resnet_experts_do_not() -> None:
    gate_in = 3 * 8 * 8
    for arch, gate_per_expert in (("mmoe", gate_in + 1), ("dselect_k", 0)):
        two, three = _model("dinov2", arch, 2), _model("dinov2", arch, 3)
        assert _count(three, trainable=False) == _count(two, trainable=False)  # one frozen backbone
        lora = 2 * 2 * (4 * 32 + 32 * 4)  # layers x (q, v) x (A + B), rank 4, hidden 32
        extra = _count(three) - _count(two)
        if arch == "mmoe":
            assert extra == lora + 2 * gate_per_expert  # + one gate row per task
        else:  # 2 -> 3 experts: 1 -> 2 code bits, one more z-logit row (gate_in + 1) per selector and task
            assert extra == lora + 2 * 2 * (gate_in + 1)
    resnet_two, resnet_three = _model("resnet101", "mmoe", 2), _model("resnet101", "mmoe", 3)
    single = create_model("resnet101", "hps", backbone_config=backbone_config_for("resnet101", "tiny"))
    backbone = _count(single.backbone)
    assert _count(resnet_three) - _count(resnet_two) == backbone + 2 * (gate_in + 1)
    e0, e1 = resnet_two.experts[0].model, resnet_two.experts[1].model  # independent random copies
    assert not torch.equal(e0.embedder.embedder.convolution.weight, e1.embedder.embedder.convolution.weight)
