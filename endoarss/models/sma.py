"""SMA (Spatially-aware Multi-scale Attention) applied to the raw image before patch embedding.

MobileViT-style block (paper §III-B): conv n x n (C->C) -> conv 1x1 (C->d) -> unfold into
non-overlapping p x p patches, giving (B, P=p*p, N, d) -> EMA attention with the P axis as channels ->
fold back -> conv 1x1 (d->C) -> concat with the input -> conv n x n (2C->C). The output has the input's
shape, so it slots in front of any patch embedding. Unlike the public release it is trainable.

Identity at init (see docs/sma.md): ``SMA(x) = x + body_θ(x) - body_θ₀(x)`` where θ₀ is a frozen
copy (buffers) of the body's initial weights. At init the two bodies compute the same numbers, so the
difference is exactly zero and a frozen pretrained backbone sees the real image; yet the Jacobian of
``body_θ`` is not zero, so every SMA parameter gets a gradient from the first step. A zero-initialised
output conv or gate would also start at the identity, but then only that last layer gets a gradient
at step 1 (the zero weights block the gradient to everything before it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from endoarss.errors import ConfigError


class EMA(nn.Module):
    """Efficient Multi-scale Attention (Ouyang et al., ICASSP 2023).

    Channels are split into ``groups``; per group: 1D average pools along H and W -> concat -> shared
    1x1 conv -> sigmoid gates (the 1x1 branch, followed by GroupNorm) in parallel with a 3x3 conv
    branch; cross-spatial aggregation softmax(GAP(x1)) . x2 + softmax(GAP(x2)) . x1 -> sigmoid ->
    reweights the input.
    """

    def __init__(self, channels: int, groups: int = 1) -> None:
        super().__init__()
        if groups < 1 or channels % groups:
            raise ConfigError(f"EMA groups={groups} must divide channels={channels}")
        self.groups = groups
        per_group = channels // groups
        self.gn = nn.GroupNorm(per_group, per_group)
        self.conv1x1 = nn.Conv2d(per_group, per_group, kernel_size=1)
        self.conv3x3 = nn.Conv2d(per_group, per_group, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        bg, cg = b * self.groups, c // self.groups
        gx = x.reshape(bg, cg, h, w)
        # Directional average pools, then the shared 1x1 conv as a matmul: oneDNN takes tens of ms
        # for this (bg, c', h + w, 1) sliver.
        pooled = torch.cat([gx.sum(dim=3) / w, gx.sum(dim=2) / h], dim=2)  # (bg, c', h + w)
        weight, bias = self.conv1x1.weight.squeeze(3).squeeze(2), self.conv1x1.bias
        gate_h, gate_w = torch.split((torch.matmul(weight, pooled) + bias[:, None]).sigmoid(), [h, w], dim=2)
        x1 = self.gn(gx * gate_h.unsqueeze(3) * gate_w.unsqueeze(2))
        # In SMA the plane is N x d (thousands x tens) with only P = 4 channels: oneDNN's default
        # (channels-first) kernel is ~4x slower there, forward and backward, than channels_last.
        x2 = self.conv3x3(gx.contiguous(memory_format=torch.channels_last))
        # GroupNorm here normalises each channel on its own (one channel per group), so the spatial
        # mean of x1 is exactly the GroupNorm bias: no pass over x1 (or its gradient) is needed.
        a1 = self.gn.bias.softmax(dim=0).expand(bg, cg).unsqueeze(2)  # (bg, c', 1)
        a2 = (x2.sum(dim=(2, 3)) / (h * w)).softmax(dim=1).unsqueeze(1)  # (bg, 1, c')
        # x2 is channels_last: as (bg, h*w, c') it is a view, so a1 . x2 needs no layout copy.
        x2_pixels = x2.permute(0, 2, 3, 1).reshape(bg, h * w, cg)
        spatial = torch.bmm(x2_pixels, a1).reshape(bg, 1, h * w) + torch.bmm(a2, x1.reshape(bg, cg, h * w))
        return (gx * spatial.reshape(bg, 1, h, w).sigmoid()).reshape(b, c, h, w)


class SMABody(nn.Module):
    """The MobileViT-style computation of SMA (without the identity correction); (B, C, H, W) in and out."""

    def __init__(self, channels: int, kernel: int, dim: int, patch: int, ema_groups: int) -> None:
        super().__init__()
        self.patch = patch
        self.local = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.expand = nn.Conv2d(channels, dim, kernel_size=1)
        self.attention = EMA(patch * patch, ema_groups)
        self.project = nn.Conv2d(dim, channels, kernel_size=1)
        self.fuse = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)

    def unfold(self, x: Tensor) -> Tensor:
        """(B, c, H, W) -> (B, P, N, c): pixel (i, j) of every p x p patch becomes channel i*p + j."""
        b, d, h, w = x.shape
        p = self.patch
        x = x.reshape(b, d, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1)  # (B, p, p, H/p, W/p, d)
        return x.reshape(b, p * p, (h // p) * (w // p), d)

    def fold(self, x: Tensor, h: int, w: int) -> Tensor:
        """Inverse of :meth:`unfold`."""
        b, _, _, d = x.shape
        p = self.patch
        x = x.reshape(b, p, p, h // p, w // p, d).permute(0, 5, 3, 1, 4, 2)  # (B, d, H/p, p, W/p, p)
        return x.reshape(b, d, h, w)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        # The 1x1 convs act pixel by pixel and (un)fold only moves pixels, so they commute: expand after
        # unfolding and project before folding, as linears on the contiguous last axis. (Un)fold then
        # moves C = 3 channels instead of d, and oneDNN's slow 1x1 convs at full resolution are avoided.
        # The n x n convs see only C = 3 (local) and 2C = 6 (fuse) channels at full resolution: oneDNN is
        # 2-3x faster there, forward and backward, channels_last than channels-first.
        x_last = x.contiguous(memory_format=torch.channels_last)
        patches = self.unfold(self.local(x_last))  # (B, P, N, C)
        expanded = F.linear(patches, self.expand.weight.flatten(1), self.expand.bias)  # (B, P, N, d)
        projected = F.linear(self.attention(expanded), self.project.weight.flatten(1), self.project.bias)
        joined = torch.cat([self.fold(projected, h, w), x], dim=1).contiguous(memory_format=torch.channels_last)
        return self.fuse(joined)


class SMA(nn.Module):
    """Spatially-aware Multi-scale Attention block; input and output are (B, C, H, W); identity at init.

    ``kernel`` = n, ``dim`` = d, ``patch`` = p (H and W must be multiples of p), ``ema_groups`` splits
    the P = p*p patch positions of the EMA into groups (must divide P; 1 keeps all in one group).
    ``checkpointing`` recomputes the body's activations in the backward pass instead of storing them.
    """

    def __init__(
        self,
        channels: int = 3,
        kernel: int = 3,
        dim: int = 16,
        patch: int = 2,
        ema_groups: int = 1,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0 or dim < 1 or patch < 1:
            raise ConfigError(f"SMA needs odd kernel >= 1, dim >= 1, patch >= 1; got {kernel}, {dim}, {patch}")
        self.patch = patch
        self.checkpointing = checkpointing
        self.body = SMABody(channels, kernel, dim, patch, ema_groups)
        # θ₀ as buffers: saved with the trainable state, moved with .to(), never trained. Buffer names
        # cannot hold dots, hence the "reference__" + name with "__" for ".".
        self._reference_names = {
            name: "reference__" + name.replace(".", "__") for name, _ in self.body.named_parameters()
        }
        for name, param in self.body.named_parameters():
            self.register_buffer(self._reference_names[name], param.detach().clone())

    def reference(self, x: Tensor) -> Tensor:
        """``body_θ₀(x)``: the body with its initial weights, no gradient."""
        frozen = {name: getattr(self, buffer) for name, buffer in self._reference_names.items()}
        with torch.no_grad():
            return functional_call(self.body, frozen, (x,))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % self.patch or w % self.patch:
            raise ConfigError(f"SMA patch {self.patch} must divide the image size {h}x{w}")
        if self.checkpointing and self.training and torch.is_grad_enabled():
            learned = checkpoint(self.body, x, use_reentrant=False)
        else:
            learned = self.body(x)
        # (a - b) first: exactly 0 where the weights are still θ₀, so x passes through bit for bit.
        return x + (learned - self.reference(x))
