"""TESLA on ResNet: grouped conv adapters == per-task loop (float64, train and eval), gradient separation,
zero-B start == plain ResNet, a tiny model trains, config / checkpoint round trip."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from endoarss.errors import ConfigError
from endoarss.models import backbone_config_for, create_model
from endoarss.models.conv_tesla import GroupBatchNorm2d, TaskConv2d
from endoarss.models.lora import AdapterRouting

TINY = {"image_size": 64, "head_channels": 16, "num_activities": 3, "num_classes": 4}


def _resnet(arch: str = "tesla", **opts: object) -> nn.Module:
    torch.manual_seed(0)
    return create_model("resnet101", arch, backbone_config=backbone_config_for("resnet101", "tiny"), **TINY, **opts)


def _tesla64(router: str = "task") -> nn.Module:
    model = _resnet(router=router).double()
    with torch.no_grad():  # non-zero B so every adapter really contributes
        for name, p in model.named_parameters():
            if "adapter_B" in name or "router.logits" in name:
                p.normal_(0, 0.3)
    return model


def _loss(out: dict[str, torch.Tensor]) -> torch.Tensor:
    return out["activity"].square().mean() + out["segmentation"].sin().mean()


def test_task_conv_matches_explicit_per_group_convolutions() -> None:
    torch.manual_seed(0)
    base = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=True).double()
    routing = AdapterRouting()
    conv = TaskConv2d(base, num_adapters=2, rank=2, alpha=4.0, routing=routing)
    assert conv.weight is base.weight and conv.scaling == 2.0
    with torch.no_grad():
        for b in conv.adapter_B:
            b.normal_()
    x = torch.randn(2 * 3, 3, 9, 9, dtype=torch.float64)  # 2 groups of 3 rows

    def reference(rows: torch.Tensor, mix: list[float]) -> torch.Tensor:
        out = base(rows)
        for e, w in enumerate(mix):
            low = F.conv2d(rows, conv.adapter_A[e], stride=2, padding=1)
            out = out + w * 2.0 * F.conv2d(low, conv.adapter_B[e])
        return out

    with routing.use(2):  # group g -> adapter g (the grouped conv, eq. 6)
        torch.testing.assert_close(conv(x), torch.cat([reference(x[:3], [1, 0]), reference(x[3:], [0, 1])]))
    with routing.use(2, index=torch.tensor([1, 1])):
        torch.testing.assert_close(conv(x), torch.cat([reference(x[:3], [0, 1]), reference(x[3:], [0, 1])]))
    with routing.use(1, index=torch.tensor([0])):
        torch.testing.assert_close(conv(x), reference(x, [1, 0]))
    mix = torch.tensor([[0.25, 0.75], [1.0, 0.0]], dtype=torch.float64)
    with routing.use(2, weights=mix):
        torch.testing.assert_close(conv(x), torch.cat([reference(x[:3], [0.25, 0.75]), reference(x[3:], [1, 0])]))
    with routing.use(4), pytest.raises(ConfigError):
        conv(x)  # 4 groups but 2 adapters and no index
    with pytest.raises(ConfigError):
        TaskConv2d(nn.Conv2d(4, 4, 3, groups=2), 2, 2, 2.0, routing)


def test_group_batchnorm_uses_per_group_statistics_in_training() -> None:
    routing = AdapterRouting()
    bn = GroupBatchNorm2d(nn.BatchNorm2d(2), routing).train()
    x = torch.cat([torch.zeros(2, 2, 1, 1), torch.full((2, 2, 1, 1), 10.0)])
    x[1] += 1.0  # group 0 rows {0, 1}, group 1 rows {10, 10}
    with routing.use(2):
        out = bn(x)
    assert torch.allclose(out[:2, 0, 0, 0], torch.tensor([-1.0, 1.0]), atol=1e-3)  # own mean 0.5, var 0.25
    assert out[2:].abs().max() < 1e-3  # constant group: zero after its own normalisation
    # running mean: two momentum-0.1 updates, group 0 (mean 0.5) then group 1 (mean 10)
    assert torch.allclose(bn.running_mean, torch.full((2,), 0.9 * 0.05 + 0.1 * 10.0))
    assert int(bn.num_batches_tracked) == 2


@pytest.mark.parametrize("training,router", [(False, "task"), (True, "task"), (True, "learned")])
def test_batched_pass_equals_per_task_loop(training: bool, router: str) -> None:
    model = _tesla64(router)
    images = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    outs, grads, stats = {}, {}, {}
    start = {k: v.clone() for k, v in model.state_dict().items()}
    for mode in ("loop", "batched"):
        model.load_state_dict(start)  # same BN running stats before each mode
        model.train(training)
        model.heads.eval()  # dropout off; the backbone BN is what is under test
        model.mode = mode
        model.zero_grad()
        outs[mode] = model(images)
        _loss(outs[mode]).backward()
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        stats[mode] = {n: b.clone() for n, b in model.backbone.named_buffers()}
    for task in model.tasks:
        torch.testing.assert_close(outs["batched"][task], outs["loop"][task], rtol=1e-10, atol=1e-12)
    assert grads["loop"].keys() == grads["batched"].keys()
    assert len(grads["loop"]) == sum(p.requires_grad for p in model.parameters())
    for name, g in grads["loop"].items():
        torch.testing.assert_close(grads["batched"][name], g, rtol=1e-9, atol=1e-12, msg=name)
    for name, b in stats["loop"].items():  # stage BNs: identical running stats; stem BN: see conv_tesla
        if "embedder" not in name:
            torch.testing.assert_close(stats["batched"][name], b, rtol=1e-10, atol=1e-12, msg=name)
    with torch.no_grad():
        feats = model.task_features(images)
    assert (feats["activity"] - feats["segmentation"]).abs().max() > 1e-3  # tasks really differ


@pytest.mark.parametrize("training", [False, True])
def test_task_loss_gives_zero_gradient_on_other_adapters(training: bool) -> None:
    model = _tesla64().train(training)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    out = model(images)
    targets = {"activity": torch.tensor([0, 2]), "segmentation": torch.randint(0, 4, (2, 64, 64))}
    for t, task in enumerate(model.tasks):
        model.zero_grad()
        F.cross_entropy(out[task], targets[task]).backward(retain_graph=True)
        own, other = model.backbone.adapter_parameters(t), model.backbone.adapter_parameters(1 - t)
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in own)
        assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in other)
    task_params = model.task_parameters()
    shared = {id(p) for p in model.shared_parameters()}
    for t, task in enumerate(model.tasks):
        assert {id(p) for p in model.backbone.adapter_parameters(t)} <= {id(p) for p in task_params[task]}
    stem = model.backbone.model.embedder.embedder
    conv = model.backbone.adapter_layers[0]
    assert {id(stem.convolution.weight), id(stem.normalization.weight), id(conv.weight)} <= shared
    assert not {id(p) for ps in task_params.values() for p in ps} & shared


def test_zero_b_start_equals_plain_resnet() -> None:
    tesla, plain = _resnet(), _resnet("hps")
    assert all(torch.count_nonzero(p) == 0 for n, p in tesla.named_parameters() if "adapter_B" in n)
    images = torch.randn(2, 3, 64, 64)
    for training in (False, True):
        tesla.train(training), plain.train(training)
        with torch.no_grad():
            expected = plain.backbone.model(images).last_hidden_state
            feats = tesla.task_features(images)
        for task in tesla.tasks:
            torch.testing.assert_close(feats[task], expected, rtol=1e-5, atol=1e-6)
    n_adapted = len(tesla.backbone.adapter_layers)
    assert n_adapted == 8  # tiny config: 4 stages x 1 basic block x two 3x3 convs
    extra = sum(p.numel() for p in tesla.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == sum(p.numel() for t in (0, 1) for p in tesla.backbone.adapter_parameters(t))


def test_tiny_resnet_tesla_trains() -> None:
    model = _resnet().train()
    images = torch.randn(4, 3, 64, 64)
    activity = torch.tensor([0, 1, 2, 1])
    masks = (images[:, 0] > 0).long() + 2 * (images[:, 1] > 0.5).long()
    params = model.shared_parameters() + [p for ps in model.task_parameters().values() for p in ps]
    assert len(params) == sum(p.requires_grad for p in model.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(6):
        torch.manual_seed(1)  # same dropout mask every step: a fixed objective
        out = model(images)
        loss = F.cross_entropy(out["activity"], activity) + F.cross_entropy(out["segmentation"], masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses
    assert all(p.abs().sum() > 0 for p in model.backbone.adapter_parameters(0) + model.backbone.adapter_parameters(1))


def test_config_and_trainable_state_round_trip() -> None:
    model = _resnet(adapter_rank=2, lora_alpha=4.0)
    assert model.backbone.adapter_layers[0].adapter_A[0].shape == (2, 16, 3, 3)
    assert model.backbone.adapter_layers[0].scaling == 2.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "adapter_B" in name:
                p.normal_(0, 0.1)
    model.train()(torch.randn(2, 3, 64, 64))  # moves BN running stats
    config = json.loads(json.dumps(model.config))
    assert config["backbone"] == "resnet101" and config["arch"] == "tesla"
    torch.manual_seed(1)
    other = create_model(**config)
    state = model.trainable_state_dict()
    assert (
        any("adapter_A" in k for k in state)
        and "backbone.model.encoder.stages.0.layers.0.layer.0.convolution.weight" in state
    )
    other.load_trainable_state_dict(state)
    images = torch.randn(2, 3, 64, 64)
    model.eval(), other.eval()
    with torch.no_grad():
        a, b = model(images), other(images)
    assert all(torch.equal(a[t], b[t]) for t in a)


def test_gradient_checkpointing_gives_same_gradients() -> None:
    images = torch.randn(2, 3, 64, 64)
    grads = []
    for opts in ({}, {"gradient_checkpointing": True}):
        model = _resnet(**opts)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "adapter_B" in name:
                    p.normal_(0, 0.1)
        model.train()  # checkpointing is active in training mode only (BN on batch stats)
        model.heads.eval()  # dropout off
        _loss(model(images)).backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in grads[0])
