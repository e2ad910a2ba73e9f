"""SMA / EMA: shape-preserving, exact unfold/fold layout, gradients reach every parameter."""

from __future__ import annotations

import pytest
import torch

from endoarss.errors import ConfigError
from endoarss.models.sma import EMA, SMA


def test_unfold_layout_and_fold_inverse() -> None:
    sma = SMA(dim=5, patch=2).body
    x = torch.arange(2 * 5 * 4 * 6, dtype=torch.float32).reshape(2, 5, 4, 6)
    u = sma.unfold(x)
    assert u.shape == (2, 4, 6, 5)  # P = 4 positions, N = 2 * 3 patches, d = 5
    # position (i, j) = (1, 0) of patch (row 1, col 2) holds pixel (2 + 1, 4 + 0)
    assert torch.equal(u[1, 1 * 2 + 0, 1 * 3 + 2], x[1, :, 3, 4])
    assert torch.equal(sma.fold(u, 4, 6), x)


def test_sma_keeps_shape_and_gradients_reach_all_parameters() -> None:
    torch.manual_seed(0)
    sma = SMA(channels=3, kernel=3, dim=8, patch=2)
    x = torch.randn(2, 3, 28, 42, requires_grad=True)
    y = sma(x)
    assert y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    for name, p in sma.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ConfigError):
        sma(torch.randn(1, 3, 27, 28))


def test_ema_hand_values_on_constant_input() -> None:
    # Constant input: the 1x1 branch after GroupNorm is exactly its bias (0); with one channel both
    # softmaxes are 1, so the weight map is the 3x3 branch x2 itself: y = x * sigmoid(x2(pixel)).
    ema = EMA(channels=1, groups=1)
    with torch.no_grad():
        ema.conv3x3.weight.fill_(0.1)
        ema.conv3x3.bias.fill_(0.2)
    x = torch.full((1, 1, 5, 5), 2.0)
    y = ema(x)
    # centre: 9 taps of 2.0 -> x2 = 9 * 0.1 * 2 + 0.2 = 2.0; corner: 4 in-bounds taps (zero padding)
    centre = 2.0 * torch.sigmoid(torch.tensor(2.0))
    corner = 2.0 * torch.sigmoid(torch.tensor(4 * 0.1 * 2 + 0.2))
    assert torch.allclose(y[0, 0, 2, 2], centre) and torch.allclose(y[0, 0, 0, 0], corner)
    with pytest.raises(ConfigError):
        EMA(channels=4, groups=3)


@pytest.mark.parametrize("size", [(28, 28), (56, 84), (112, 112)])
@pytest.mark.parametrize("train", [True, False])
def test_sma_is_the_identity_at_init(size: tuple[int, int], train: bool) -> None:
    torch.manual_seed(1)
    sma = SMA(dim=8).train(train)
    x = torch.randn(2, 3, *size)
    assert torch.allclose(sma(x), x, atol=1e-6)
    # the body alone is far from the identity: the reference copy is what cancels it
    assert (sma.body(x) - x).abs().max() > 0.1


def test_every_sma_parameter_gets_a_gradient_in_the_first_step() -> None:
    torch.manual_seed(2)
    for checkpointing in (False, True):
        sma = SMA(dim=8, checkpointing=checkpointing).train()
        x = torch.randn(2, 3, 28, 28)
        loss = (sma(x) * torch.randn_like(x)).sum()
        loss.backward()
        grads = {name: p.grad for name, p in sma.named_parameters()}
        assert len(grads) == 14 and all(g is not None and g.abs().sum() > 0 for g in grads.values()), checkpointing
        # the frozen reference is a buffer: no gradient, and the identity leaves it alone after a step
        assert all(not b.requires_grad for b in sma.buffers())
        with torch.no_grad():
            for p in sma.parameters():
                p -= 0.1 * p.grad
        assert not torch.allclose(sma(x), x, atol=1e-3)  # training moves it off the identity


def test_sma_checkpointing_gives_the_same_output_and_gradients() -> None:
    torch.manual_seed(3)
    plain = SMA(dim=8)
    stored = SMA(dim=8, checkpointing=True)
    stored.load_state_dict(plain.state_dict())
    with torch.no_grad():  # move both off the identity so the body matters
        for a, b in zip(plain.parameters(), stored.parameters(), strict=True):
            noise = 0.05 * torch.randn_like(a)
            a += noise
            b += noise
    x = torch.randn(2, 3, 28, 28)
    outs = []
    for sma in (plain, stored):
        y = sma(x)
        y.square().sum().backward()
        outs.append((y.detach(), [p.grad.clone() for p in sma.parameters()]))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(outs[0][1], outs[1][1], strict=True))


def _ema_as_published(ema: EMA, x: torch.Tensor) -> torch.Tensor:
    """EMA written as the paper states it (means, convs channels-first, both softmaxes from the maps)."""
    shape = x.shape
    x = x.reshape(shape[0] * ema.groups, shape[1] // ema.groups, *shape[2:])
    b, c, h, w = x.shape
    pooled = torch.cat([x.mean(dim=3, keepdim=True), x.mean(dim=2, keepdim=True).transpose(2, 3)], dim=2)
    gate_h, gate_w = torch.split(ema.conv1x1(pooled), [h, w], dim=2)
    x1 = ema.gn(x * gate_h.sigmoid() * gate_w.transpose(2, 3).sigmoid())
    x2 = ema.conv3x3(x)
    a1 = x1.mean(dim=(2, 3)).softmax(dim=1).unsqueeze(1)
    a2 = x2.mean(dim=(2, 3)).softmax(dim=1).unsqueeze(1)
    spatial = torch.bmm(a1, x2.reshape(b, c, h * w)) + torch.bmm(a2, x1.reshape(b, c, h * w))
    return (x * spatial.reshape(b, 1, h, w).sigmoid()).reshape(shape)


def _perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    # away from init (GroupNorm bias 0, weight 1) so every term of the formulas matters
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module


def _value_and_grads(fn, module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = x.detach().requires_grad_(True)
    y = fn(x)
    params = list(module.parameters())
    grads = torch.autograd.grad((y * torch.linspace(-1, 2, y.numel(), dtype=y.dtype).reshape(y.shape)).sum(),
                                params + [x])  # fmt: skip
    return y.detach(), list(grads)


def test_ema_fast_kernels_match_the_published_formulation_in_float64() -> None:
    # EMA runs its 3x3 conv channels_last, its 1x1 conv as a matmul, and takes softmax(GroupNorm bias)
    # for the spatial mean of the per-channel-normalised branch; neither values nor gradients change.
    ema = _perturbed(EMA(channels=4).double(), 4)
    x = torch.randn(2, 4, 50, 16, dtype=torch.float64)
    fast, fast_grads = _value_and_grads(ema, ema, x)
    slow, slow_grads = _value_and_grads(lambda t: _ema_as_published(ema, t), ema, x)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def _sma_body_as_published(body, x: torch.Tensor) -> torch.Tensor:
    """The body as the paper orders it: 1x1 conv to d, unfold, EMA, fold, 1x1 conv back, concat, fuse."""
    h, w = x.shape[-2:]
    local = body.expand(body.local(x))
    attended = body.fold(_ema_as_published(body.attention, body.unfold(local)), h, w)
    return body.fuse(torch.cat([body.project(attended), x], dim=1))


@pytest.mark.parametrize("groups", [1, 2])
def test_sma_body_matches_the_published_order_in_float64(groups: int) -> None:
    # The 1x1 convs commute with (un)fold (both per pixel), so the body runs them as linears on the
    # (B, P, N, .) layout; outputs and every gradient (parameters and input) must stay the same.
    body = _perturbed(SMA(dim=6, ema_groups=groups).double(), 5).body
    x = torch.randn(2, 3, 12, 20, dtype=torch.float64)
    fast, fast_grads = _value_and_grads(body, body, x)
    slow, slow_grads = _value_and_grads(lambda t: _sma_body_as_published(body, t), body, x)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_endoarss_model_with_sma_matches_the_model_without_at_init(train: bool) -> None:
    from endoarss.models import backbone_config_for, create_model

    config = backbone_config_for("dinov2", "tiny")
    kwargs = {"image_size": 56, "head_channels": 16, "backbone_config": config}
    torch.manual_seed(5)
    with_sma = create_model("dinov2", "tesla", sma=True, **kwargs).train(train)
    without = create_model("dinov2", "tesla", sma=False, **kwargs).train(train)
    state = {k: v for k, v in with_sma.state_dict().items() if ".sma." not in k}
    assert set(state) == set(without.state_dict())
    without.load_state_dict(state)
    x = torch.randn(2, 3, 56, 56)
    torch.manual_seed(6)  # same dropout draws, if any
    out_sma = with_sma(x)
    torch.manual_seed(6)
    out_plain = without(x)
    for task in out_plain:
        assert torch.allclose(out_sma[task], out_plain[task], atol=1e-6), task
