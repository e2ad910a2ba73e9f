"""SMA / EMA: shape-preserving, exact unfold/fold layout, gradients reach every parameter."""

from __future__ import annotations

import pytest
import torch

from endoarss.errors import ConfigError
from endoarss.models.sma import EMA, SMA


def test_unfold_layout_and_fold_inverse() -> None:
    sma = SMA(dim=5, patch=2)
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
