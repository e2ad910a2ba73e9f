"""TESLA: batched pass == per-task loop (values and gradients, float64), explicit gradient separation."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from endoarss.errors import ConfigError
from endoarss.models import backbone_config_for, create_model
from endoarss.models.tesla import TaskRouter, add_grouped_low_rank, grouped_factors


def _tesla(router: str = "task", sma: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(
        "dinov2", "tesla", sma=sma, sma_dim=8, router=router, backbone_config=backbone_config_for("dinov2", "tiny"),
        image_size=56, head_channels=16, num_activities=3, num_classes=4,
    ).double()  # fmt: skip
    with torch.no_grad():  # non-zero B everywhere so every adapter really contributes
        for name, p in model.named_parameters():
            if "lora_B" in name or "adapter_B" in name:
                p.normal_(0, 0.2)
        for t, logits in enumerate(model.router.logits):  # learned mixing: task t leans on adapter t
            logits.copy_(torch.full_like(logits, -1.0).index_fill_(0, torch.tensor([t]), 1.0))
    return model.eval()  # eval: BN uses running stats, so per-task and batched BN agree


def _loss(out: dict[str, torch.Tensor]) -> torch.Tensor:
    return out["activity"].square().mean() + out["segmentation"].sin().mean()


def _delta(x: torch.Tensor, bank: tuple[torch.Tensor, torch.Tensor], **route: torch.Tensor) -> torch.Tensor:
    a, b = grouped_factors(2, None, bank, **route)
    return add_grouped_low_rank(torch.zeros(x.shape[0], b.shape[1]), x, a, b)


def test_grouped_low_rank_hand_values() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # two groups of one row
    bank = (torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), torch.tensor([[[2.0]], [[10.0]]]))  # adapter e reads x_e
    assert torch.equal(_delta(x, bank), torch.tensor([[2.0], [40.0]]))
    assert torch.equal(_delta(x, bank, index=torch.tensor([1, 0])), torch.tensor([[20.0], [6.0]]))
    mixed = _delta(x, bank, weights=torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    assert torch.allclose(mixed, torch.tensor([[0.5 * 2 + 0.5 * 20], [6.0]]))
    # a shared LoRA (A reads x_0 + x_1, B = 1) is added to every group, on top of its routed adapter
    shared = (torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0]]))
    a, b = grouped_factors(2, shared, bank)
    assert a.shape == (2, 2, 2) and b.shape == (2, 1, 2)
    out = add_grouped_low_rank(torch.full((2, 1), 0.5), x, a, b)
    assert torch.equal(out, torch.tensor([[0.5 + 3 + 2], [0.5 + 7 + 40]]))
    assert grouped_factors(2, None, None) is None
    with pytest.raises(ConfigError, match="equal groups"):
        add_grouped_low_rank(torch.zeros(3, 1), torch.ones(3, 2), a, b)
    with pytest.raises(ConfigError, match="explicit adapter index"):
        grouped_factors(3, None, bank)
    with pytest.raises(ConfigError, match="routing weights"):
        grouped_factors(2, None, bank, weights=torch.ones(2, 3))


@pytest.mark.parametrize("router,sma", [("task", False), ("task", True), ("learned", False)])
def test_batched_pass_equals_per_task_loop(router: str, sma: bool) -> None:
    model = _tesla(router, sma)
    images = torch.randn(3, 3, 56, 56, dtype=torch.float64)
    grads = {}
    outs = {}
    for mode in ("loop", "batched", "split"):
        model.mode = mode
        model.zero_grad()
        outs[mode] = model(images)
        _loss(outs[mode]).backward()
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for task in ("activity", "segmentation"):
        torch.testing.assert_close(outs["batched"][task], outs["loop"][task], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(outs["split"][task], outs["loop"][task], rtol=1e-10, atol=1e-12)
    # the two tasks really see different features (their adapters differ), in both modes
    for mode in ("loop", "batched"):
        model.mode = mode
        with torch.no_grad():
            feats = model.task_features(images)
        assert (feats["activity"] - feats["segmentation"]).abs().max() > 1e-3
    assert grads["loop"].keys() == grads["batched"].keys()
    assert len(grads["loop"]) == sum(p.requires_grad for p in model.parameters())
    for name, g in grads["loop"].items():
        torch.testing.assert_close(grads["batched"][name], g, rtol=1e-9, atol=1e-12, msg=name)
        torch.testing.assert_close(grads["split"][name], g, rtol=1e-9, atol=1e-12, msg=name)


def test_task_loss_gives_zero_gradient_on_other_adapters() -> None:
    model = _tesla()
    images = torch.randn(2, 3, 56, 56, dtype=torch.float64)
    out = model(images)
    for t, task in enumerate(model.tasks):
        model.zero_grad()
        loss = out[task].square().mean() if task == "activity" else F.cross_entropy(out[task], torch.zeros(
            2, 56, 56, dtype=torch.long))  # fmt: skip
        loss.backward(retain_graph=True)
        own = model.backbone.adapter_parameters(t)
        other = model.backbone.adapter_parameters(1 - t)
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in own)
        assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in other)
        # the adapters are exactly the task's own parameters besides its head
        assert {id(p) for p in own} <= {id(p) for p in model.task_parameters()[task]}


def test_learned_router_weights_are_a_softmax_per_task() -> None:
    router = TaskRouter(2, 3, "learned")
    assert torch.allclose(router.weights(), torch.full((2, 3), 1 / 3))
    with torch.no_grad():
        router.logits[1].copy_(torch.tensor([0.0, 0.0, 1.0]))
    e = torch.e
    assert torch.allclose(router.weights([1]), torch.tensor([[1, 1, e]]) / (2 + e))
    assert TaskRouter(2, 2).weights() is None
    with pytest.raises(ConfigError):
        TaskRouter(2, 3, "task")
