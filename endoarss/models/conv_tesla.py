"""TESLA on the fine-tuned ResNet: task-specific low-rank conv adapters, all tasks in one batched pass.

Paper eq. 5 for a k x k convolution: ``h_t = W' * x_t + s B_t (A_t * x_t)`` with A_t a k x k conv
(C_in -> r) and B_t a 1 x 1 conv (r -> C_out), B_t zero-initialised so the adapted network starts
equal to the plain ResNet; s = alpha / r as for LoRA. The ResNet itself is fine-tuned (as in our
baselines), so W' is the shared trainable conv weight and there is no extra shared LoRA.

Where: every 3x3 convolution of the residual stages (the middle conv of a bottleneck block, both
convs of a basic block). These are the spatial, parameter-heavy convs; the paper's eq. 6 is written
for k x k kernels. The stem and the 1x1 projections stay purely shared (as DINOv2's TESLA adapts
only q/v), so the stem runs once per batch and its output is repeated for the T task groups.

Batched pass (eq. 6, the group trick): the T copies of the batch are concatenated along dim 0; the
shared conv runs once on all T*B rows and the adapter term is a grouped convolution
(``(T*B, C, H, W) -> (B, T*C, H, W)``, ``groups=T``), so group t only ever touches adapter t.

BatchNorm: the BN layers of the stages are shared (affine parameters and running statistics) but,
in training mode, each task group is normalised with its *own* batch statistics. That is exactly
what the per-task loop computes, and it is required for explicit gradient separation: with one
set of statistics over all T*B rows, task u's features would enter task t's normalisation and
adapter u would receive gradient from task t's loss. Running statistics get one update per group,
in task order, as in the loop. (Only the stem BN differs from the loop: it sees the images once
per step instead of T times, with identical statistics, so its running averages move more slowly.)
In eval mode all rows use the shared running statistics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import ResNetModel

from endoarss.errors import ConfigError
from endoarss.models.backbones import ResNetBackbone
from endoarss.models.checkpointing import checkpoint_segment
from endoarss.models.lora import AdapterRouting, kaiming_a


def _to_groups(x: Tensor, groups: int) -> Tensor:
    """(G*B, C, H, W) with group g at rows [g*B, (g+1)*B) -> (B, G*C, H, W) for a grouped conv."""
    if x.shape[0] % groups:
        raise ConfigError(f"batch of {x.shape[0]} rows cannot be split into {groups} equal groups")
    return x.reshape(groups, -1, *x.shape[1:]).transpose(0, 1).flatten(1, 2)


def _from_groups(x: Tensor, groups: int) -> Tensor:
    """Inverse of :func:`_to_groups`: (B, G*C, H, W) -> (G*B, C, H, W)."""
    return x.reshape(x.shape[0], groups, -1, *x.shape[2:]).transpose(0, 1).flatten(0, 1)


class TaskConv2d(nn.Conv2d):
    """A shared ``nn.Conv2d`` plus a bank of E low-rank conv adapters routed per batch group.

    Built from an existing conv and reusing its Parameters, so state-dict keys of the shared weight
    stay those of the transformers ResNet. Adapters are one Parameter each (A: (r, C_in, k, k),
    B: (C_out, r, 1, 1)) so ``task_parameters()`` can hand task t exactly its own.
    """

    def __init__(self, base: nn.Conv2d, num_adapters: int, rank: int, alpha: float, routing: AdapterRouting) -> None:
        if base.groups != 1 or base.padding_mode != "zeros" or isinstance(base.padding, str):
            raise ConfigError(f"conv adapters need a dense zero-padded conv, got {base}")
        if rank < 1 or num_adapters < 1:
            raise ConfigError(f"conv adapters need rank >= 1 and >= 1 adapter, got {rank}, {num_adapters}")
        super().__init__(
            base.in_channels, base.out_channels, base.kernel_size, base.stride, base.padding, base.dilation,
            bias=base.bias is not None, device="meta",
        )  # fmt: skip
        self.weight, self.bias = base.weight, base.bias  # share, do not copy
        self.rank, self.scaling, self.routing = rank, alpha / rank, routing
        like = {"device": base.weight.device, "dtype": base.weight.dtype}
        shape_a = (rank, base.in_channels, *base.kernel_size)
        self.adapter_A = nn.ParameterList([nn.Parameter(kaiming_a(shape_a).to(**like)) for _ in range(num_adapters)])
        self.adapter_B = nn.ParameterList(
            [nn.Parameter(torch.zeros(base.out_channels, rank, 1, 1, **like)) for _ in range(num_adapters)]
        )

    @property
    def num_adapters(self) -> int:
        """Number of routed adapters in the bank."""
        return len(self.adapter_A)

    def adapter_parameters(self, i: int) -> list[nn.Parameter]:
        """The two factors of adapter ``i``."""
        return [self.adapter_A[i], self.adapter_B[i]]

    def _low(self, x: Tensor, a: Tensor, groups: int) -> Tensor:
        return F.conv2d(x, a, None, self.stride, self.padding, self.dilation, groups)

    def adapter_delta(self, x: Tensor) -> Tensor:
        """Unscaled adapter term for every row of every group (routing from ``self.routing``)."""
        route, n_adapters = self.routing, self.num_adapters
        groups = route.groups
        if route.weights is not None:  # general form: every group mixes all E adapters
            if route.weights.shape != (groups, n_adapters):
                raise ConfigError(f"routing weights must be (groups, adapters)={(groups, n_adapters)}")
            low = self._low(x, torch.cat(list(self.adapter_A)), 1)  # (G*B, E*r, h, w)
            low = low.reshape(groups, -1, n_adapters, self.rank, *low.shape[2:])
            low = (low * route.weights[:, None, :, None, None, None].to(low.dtype)).flatten(0, 1).flatten(1, 2)
            return F.conv2d(low, torch.cat(list(self.adapter_B), dim=1))
        a, b = torch.stack(list(self.adapter_A)), torch.stack(list(self.adapter_B))
        if route.index is not None:
            a, b = a.index_select(0, route.index), b.index_select(0, route.index)
        elif n_adapters != groups:
            raise ConfigError(f"{groups} groups need an explicit adapter index ({n_adapters} adapters)")
        if groups == 1:
            return F.conv2d(self._low(x, a[0], 1), b[0])
        low = self._low(_to_groups(x, groups), a.flatten(0, 1), groups)  # (B, G*r, h, w)
        return _from_groups(F.conv2d(low, b.flatten(0, 1), None, 1, 0, 1, groups), groups)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + self.adapter_delta(x) * self.scaling

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, adapters={self.num_adapters}, rank={self.rank}, scaling={self.scaling:g}"


class GroupBatchNorm2d(nn.BatchNorm2d):
    """Shared BatchNorm2d that, in training mode, normalises each batch group with its own statistics.

    Reuses the Parameters and buffers of the BN it replaces (same state-dict keys). See the module
    docstring for why the statistics are per group.
    """

    def __init__(self, base: nn.BatchNorm2d, routing: AdapterRouting) -> None:
        super().__init__(
            base.num_features, base.eps, base.momentum, base.affine, base.track_running_stats, device="meta"
        )
        for name, param in base.named_parameters(recurse=False):
            setattr(self, name, param)
        for name, buffer in base.named_buffers(recurse=False):
            setattr(self, name, buffer)
        self.routing = routing

    def forward(self, x: Tensor) -> Tensor:
        groups = self.routing.groups
        if not self.training or groups == 1:
            return super().forward(x)
        if x.shape[0] % groups:
            raise ConfigError(f"batch of {x.shape[0]} rows cannot be split into {groups} equal groups")
        return torch.cat([super(GroupBatchNorm2d, self).forward(part) for part in x.chunk(groups)])


def inject_conv_adapters(
    module: nn.Module, num_adapters: int, rank: int, alpha: float, routing: AdapterRouting
) -> list[TaskConv2d]:
    """Put adapters on every 3x3 ``nn.Conv2d`` under ``module`` and make its BNs group-aware.

    Returns the adapted convs in module order; ConfigError when there is no 3x3 conv (nothing would
    be task-specific).
    """
    convs, norms = [], []
    for parent in module.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Conv2d and child.kernel_size == (3, 3):
                convs.append((parent, name, child))
            elif type(child) is nn.BatchNorm2d:
                norms.append((parent, name, child))
    if not convs:
        raise ConfigError(f"no 3x3 nn.Conv2d found in {type(module).__name__} for TESLA conv adapters")
    for parent, name, child in norms:
        setattr(parent, name, GroupBatchNorm2d(child, routing))
    layers = []
    for parent, name, child in convs:
        layer = TaskConv2d(child, num_adapters, rank, alpha, routing)
        setattr(parent, name, layer)
        layers.append(layer)
    return layers


class ResNetTeslaBackbone(ResNetBackbone):
    """Fine-tuned ResNet with task-specific conv adapters on the 3x3 convs of its residual stages.

    Same call contract as :class:`DinoBackbone`: ``forward(images, groups, index, weights)`` returns
    G*B feature maps, group g at rows [g*B, (g+1)*B), computed with the given adapter routing.
    """

    def __init__(
        self, model: ResNetModel, num_adapters: int, rank: int, alpha: float, gradient_checkpointing: bool = False
    ) -> None:
        super().__init__(model, gradient_checkpointing)
        self.routing = AdapterRouting()
        self.adapter_layers: list[TaskConv2d] = inject_conv_adapters(
            model.encoder, num_adapters, rank, alpha, self.routing
        )

    @property
    def num_adapters(self) -> int:
        """Adapters per adapted conv (one per task for TESLA)."""
        return self.adapter_layers[0].num_adapters

    def adapter_parameters(self, i: int) -> list[nn.Parameter]:
        """Factors of adapter ``i`` in every adapted conv."""
        return [p for layer in self.adapter_layers for p in layer.adapter_parameters(i)]

    def _run_stage(self, stage: nn.Module, hidden: Tensor, groups: int, index: Tensor | None,
                   weights: Tensor | None) -> Tensor:  # fmt: skip
        # Routing is set here so a checkpointed stage recomputes with the same routing.
        with self.routing.use(groups, index, weights):
            return stage(hidden)

    def forward(
        self, images: Tensor, groups: int = 1, index: Tensor | None = None, weights: Tensor | None = None
    ) -> Tensor:
        hidden = self.model.embedder(images)  # shared stem: identical for every group, run once
        if groups > 1:
            hidden = hidden.repeat(groups, 1, 1, 1)
        for stage in self.model.encoder.stages:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hidden = checkpoint_segment(self._run_stage, stage, stage, hidden, groups, index, weights)
            else:
                hidden = self._run_stage(stage, hidden, groups, index, weights)
        return hidden
