"""Activation checkpointing: same gradients AND the same BatchNorm running statistics as without it."""

from __future__ import annotations

import pytest
import torch

from endoarss.models import backbone_config_for, create_model
from endoarss.models.checkpointing import preserved_norm_stats


def _bn_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches_tracked" in k}


@pytest.mark.parametrize("arch", ["hps", "tesla"])
def test_checkpointed_resnet_updates_bn_statistics_once(arch: str) -> None:
    images = torch.randn(2, 3, 64, 64)
    runs = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = create_model(
            "resnet101", arch, backbone_config=backbone_config_for("resnet101", "tiny"), head_channels=16,
            gradient_checkpointing=checkpointing,
        ).train()  # fmt: skip
        model.heads.eval()  # dropout off; the backbone's BNs train (and are checkpointed)
        before = _bn_state(model.backbone)
        out = model(images)
        (out["activity"].square().mean() + out["segmentation"].mean()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        runs.append((before, _bn_state(model.backbone), grads))
    (before, plain, g_plain), (_, ckpt, g_ckpt) = runs
    moved = [k for k in plain if "running_mean" in k and not torch.equal(plain[k], before[k])]
    assert moved, "the training step must update the running statistics"
    assert plain.keys() == ckpt.keys()
    for key in plain:  # one update per step: a second one (the recompute) would change every entry
        torch.testing.assert_close(ckpt[key], plain[key], rtol=1e-5, atol=1e-6)
    assert g_plain.keys() == g_ckpt.keys()
    assert all(torch.allclose(g_plain[n], g_ckpt[n], atol=1e-5) for n in g_plain)


def test_preserved_norm_stats_restores_even_on_error() -> None:
    norm = torch.nn.BatchNorm1d(3).train()
    with pytest.raises(RuntimeError, match="boom"), preserved_norm_stats(norm):
        norm(torch.randn(4, 3) + 5)
        raise RuntimeError("boom")
    assert torch.equal(norm.running_mean, torch.zeros(3)) and int(norm.num_batches_tracked) == 0
    norm(torch.randn(4, 3) + 5)  # outside the context the update stays
    assert norm.running_mean.min() > 0.1 and int(norm.num_batches_tracked) == 1
