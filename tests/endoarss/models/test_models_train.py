"""Every architecture x backbone trains on a fixed synthetic batch: the loss goes down."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from endoarss.models import backbone_config_for, create_model

CASES = [
    ("dinov2", "single", {"sma": True}),
    ("dinov2", "hps", {"sma": True}),
    ("dinov2", "tesla", {"sma": True}),
    ("dinov2", "mmoe", {"num_experts": 2}),
    ("dinov2", "dselect_k", {"num_experts": 3}),
    ("resnet101", "single", {}),
    ("resnet101", "hps", {}),
    ("resnet101", "mmoe", {"num_experts": 2}),
    ("resnet101", "dselect_k", {"num_experts": 2, "k": 1}),
]


@pytest.mark.parametrize("backbone,arch,extra", CASES, ids=[f"{b}-{a}" for b, a, _ in CASES])
def test_tiny_model_loss_decreases(backbone: str, arch: str, extra: dict) -> None:
    torch.manual_seed(0)
    tasks = ["segmentation"] if arch == "single" else ["activity", "segmentation"]
    model = create_model(
        backbone, arch, tasks=tasks, num_activities=3, num_classes=4, image_size=56, head_channels=16,
        backbone_config=backbone_config_for(backbone, "tiny"), sma_dim=8, **extra,
    ).train()  # fmt: skip
    blocks = torch.randn(4, 3, 4, 4)  # one value per 14x14 patch: labels are learnable from the tokens
    images = F.interpolate(blocks, scale_factor=14.0, mode="nearest") + 0.1 * torch.randn(4, 3, 56, 56)
    activity = torch.tensor([0, 1, 2, 1])
    coarse = (blocks[:, 0] > 0).long() + 2 * (blocks[:, 1] > 0.5).long()
    masks = coarse.repeat_interleave(14, 1).repeat_interleave(14, 2)
    masks[:, :2] = 255  # ignore_index rows must not break the loss
    params = model.shared_parameters() + [p for ps in model.task_parameters().values() for p in ps]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(8):
        torch.manual_seed(1)  # same dropout mask every step: a fixed objective
        out = model(images)
        loss = sum(
            F.cross_entropy(out[t], activity) if t == "activity" else F.cross_entropy(out[t], masks, ignore_index=255)
            for t in model.tasks
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.95 * losses[0], losses
