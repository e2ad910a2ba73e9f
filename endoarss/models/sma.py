"""SMA (Spatially-aware Multi-scale Attention) applied to the raw image before patch embedding.

MobileViT-style block (paper §III-B): conv n x n (C->C) -> conv 1x1 (C->d) -> unfold into
non-overlapping p x p patches, giving (B, P=p*p, N, d) -> EMA attention with the P axis as channels ->
fold back -> conv 1x1 (d->C) -> concat with the input -> conv n x n (2C->C). The output has the input's
shape, so it slots in front of any patch embedding. Unlike the public release it is trainable.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

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
        gx = x.reshape(b * self.groups, c // self.groups, h, w)
        pooled_h = gx.mean(dim=3, keepdim=True)  # (bg, c', h, 1)
        pooled_w = gx.mean(dim=2, keepdim=True).transpose(2, 3)  # (bg, c', w, 1)
        hw = self.conv1x1(torch.cat([pooled_h, pooled_w], dim=2))
        gate_h, gate_w = torch.split(hw, [h, w], dim=2)
        x1 = self.gn(gx * gate_h.sigmoid() * gate_w.transpose(2, 3).sigmoid())
        x2 = self.conv3x3(gx)
        bg, cg = b * self.groups, c // self.groups
        a1 = x1.mean(dim=(2, 3)).softmax(dim=1).unsqueeze(1)  # (bg, 1, c')
        a2 = x2.mean(dim=(2, 3)).softmax(dim=1).unsqueeze(1)
        spatial = torch.bmm(a1, x2.reshape(bg, cg, h * w)) + torch.bmm(a2, x1.reshape(bg, cg, h * w))
        return (gx * spatial.reshape(bg, 1, h, w).sigmoid()).reshape(b, c, h, w)


class SMA(nn.Module):
    """Spatially-aware Multi-scale Attention block; input and output are (B, C, H, W).

    ``kernel`` = n, ``dim`` = d, ``patch`` = p (H and W must be multiples of p), ``ema_groups`` splits
    the P = p*p patch positions of the EMA into groups (must divide P; 1 keeps all in one group).
    """

    def __init__(self, channels: int = 3, kernel: int = 3, dim: int = 64, patch: int = 2, ema_groups: int = 1) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0 or dim < 1 or patch < 1:
            raise ConfigError(f"SMA needs odd kernel >= 1, dim >= 1, patch >= 1; got {kernel}, {dim}, {patch}")
        self.patch = patch
        self.local = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.expand = nn.Conv2d(channels, dim, kernel_size=1)
        self.attention = EMA(patch * patch, ema_groups)
        self.project = nn.Conv2d(dim, channels, kernel_size=1)
        self.fuse = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)

    def unfold(self, x: Tensor) -> Tensor:
        """(B, d, H, W) -> (B, P, N, d): pixel (i, j) of every p x p patch becomes channel i*p + j."""
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
        if h % self.patch or w % self.patch:
            raise ConfigError(f"SMA patch {self.patch} must divide the image size {h}x{w}")
        local = self.expand(self.local(x))
        attended = self.fold(self.attention(self.unfold(local)), h, w)
        return self.fuse(torch.cat([self.project(attended), x], dim=1))
