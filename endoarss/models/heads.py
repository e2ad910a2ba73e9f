"""DeepLabV3-style task heads (docs/model.md "Heads"), built only from conv/BN/ReLU so they run channels_last.

* segmentation: ASPP (1x1 + three dilated 3x3 + image pooling, ``channels`` each) -> concat ->
  1x1 BN ReLU dropout 0.5 -> 3x3 BN ReLU -> 1x1 num_classes; logits are upsampled bilinearly to the
  input image size by the caller-facing :meth:`SegmentationHead.forward`.
* activity: 3x3 BN ReLU -> global average pool -> linear num_activities.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from endoarss.errors import ConfigError

# DeepLabV3 uses rates 12/24/36 at output stride 8, i.e. on a ~65x65 feature map (513 px input);
# we scale them with the actual feature-map size so a 16x16 DINOv2 map gets 3/6/9.
DEEPLAB_RATES = (12, 24, 36)
DEEPLAB_FEATURE_SIZE = 65


def scaled_aspp_rates(feature_size: int, rates: tuple[int, ...] = DEEPLAB_RATES) -> tuple[int, ...]:
    """ASPP dilation rates scaled from DeepLabV3's 65x65 map to ``feature_size`` (each >= 1)."""
    return tuple(max(1, round(r * feature_size / DEEPLAB_FEATURE_SIZE)) for r in rates)


def _conv_bn_relu(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel 1x1, dilated 3x3 and image-pooling branches."""

    def __init__(self, in_channels: int, channels: int, rates: tuple[int, ...]) -> None:
        super().__init__()
        branches = [_conv_bn_relu(in_channels, channels, 1)]
        branches += [_conv_bn_relu(in_channels, channels, 3, r) for r in rates]
        self.branches = nn.ModuleList(branches)
        self.pool = _conv_bn_relu(in_channels, channels, 1)
        self.out_channels = channels * (len(rates) + 2)

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.pool(F.adaptive_avg_pool2d(x, 1))
        outs.append(pooled.expand(-1, -1, *x.shape[-2:]))
        return torch.cat(outs, dim=1)


class SegmentationHead(nn.Module):
    """DeepLabV3 head; ``forward(features, size)`` returns logits (B, num_classes, *size)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        rates: tuple[int, ...],
        channels: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if num_classes < 1 or channels < 1:
            raise ConfigError(f"segmentation head needs num_classes >= 1 and channels >= 1, got {num_classes}")
        self.aspp = ASPP(in_channels, channels, rates)
        self.project = nn.Sequential(_conv_bn_relu(self.aspp.out_channels, channels, 1), nn.Dropout(dropout))
        self.refine = _conv_bn_relu(channels, channels, 3)
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)

    def forward(self, features: Tensor, size: tuple[int, int]) -> Tensor:
        logits = self.classifier(self.refine(self.project(self.aspp(features))))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class ActivityHead(nn.Module):
    """3x3 conv BN ReLU -> global average pool -> linear; returns (B, num_activities) logits."""

    def __init__(self, in_channels: int, num_activities: int, channels: int = 256) -> None:
        super().__init__()
        if num_activities < 1 or channels < 1:
            raise ConfigError(f"activity head needs num_activities >= 1, got {num_activities}")
        self.conv = _conv_bn_relu(in_channels, channels, 3)
        self.classifier = nn.Linear(channels, num_activities)

    def forward(self, features: Tensor, size: tuple[int, int]) -> Tensor:
        del size  # same call signature as the segmentation head
        return self.classifier(self.conv(features).mean(dim=(2, 3)))


def build_head(
    task: str,
    in_channels: int,
    num_activities: int,
    num_classes: int,
    feature_size: int,
    channels: int = 256,
    rates: tuple[int, ...] | None = None,
) -> nn.Module:
    """Head for ``task`` ('activity' or 'segmentation') reading a (B, in_channels, h, w) map."""
    if task == "activity":
        return ActivityHead(in_channels, num_activities, channels)
    if task == "segmentation":
        return SegmentationHead(in_channels, num_classes, rates or scaled_aspp_rates(feature_size), channels)
    raise ConfigError(f"unknown task {task!r}; expected 'activity' or 'segmentation'")
