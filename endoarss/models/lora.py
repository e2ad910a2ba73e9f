"""LoRA for frozen linear layers, with an optional bank of routed adapters (TESLA / LoRA experts).

One layer type serves every DINOv2 variant so the frozen weight is stored once:

* plain LoRA (paper eq. 2-3): ``h = W0 x + (alpha/r) B A x``, A Kaiming-uniform, B zero;
* a bank of E extra low-rank adapters whose contribution is chosen per *group* of the batch
  (TESLA: one adapter per task; MMoE/DSelect-k: one adapter per expert). The batch holds G groups
  concatenated along dim 0 and the routing (how many groups, which adapter or which mix of adapters
  each group uses) comes from an :class:`AdapterRouting` object shared by all layers of a backbone,
  because the transformers modules between our layers cannot pass extra arguments down.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from endoarss.errors import ConfigError
from endoarss.models.tesla import add_grouped_low_rank, grouped_factors


@dataclass
class AdapterRouting:
    """How the current batch is split into groups and which adapters each group uses.

    ``groups``: number of equal slices of the batch (dim 0). ``index``: (G,) adapter id per group, or
    None for group g -> adapter g. ``weights``: (G, E) mixing weights over all adapters (the general
    TESLA form); when given it overrides ``index``.
    """

    groups: int = 1
    index: Tensor | None = None
    weights: Tensor | None = None

    @contextmanager
    def use(self, groups: int, index: Tensor | None = None, weights: Tensor | None = None) -> Iterator[None]:
        """Set the routing for the duration of one forward (restored afterwards, also on error)."""
        saved = (self.groups, self.index, self.weights)
        self.groups, self.index, self.weights = groups, index, weights
        try:
            yield
        finally:
            self.groups, self.index, self.weights = saved


def kaiming_a(shape: tuple[int, ...]) -> Tensor:
    """A-factor init of the LoRA paper / nn.Linear: Kaiming-uniform with a = sqrt(5)."""
    weight = torch.empty(shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return weight


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus an optional shared LoRA and an optional bank of routed adapters.

    The adapter bank is stored as one Parameter per adapter (not one stacked tensor) so that
    ``task_parameters()`` can hand task t exactly its own adapter.
    """

    def __init__(
        self,
        base: nn.Linear,
        rank: int,
        alpha: float,
        shared: bool,
        num_adapters: int,
        routing: AdapterRouting,
        adapter_rank: int | None = None,
    ) -> None:
        super().__init__()
        if rank < 1 or (adapter_rank is not None and adapter_rank < 1):
            raise ConfigError(f"LoRA rank must be >= 1, got rank={rank}, adapter_rank={adapter_rank}")
        self.base = base
        self.base.requires_grad_(False)
        self.rank = rank
        self.adapter_rank = adapter_rank or rank
        self.scaling = alpha / rank
        self.adapter_scaling = alpha / self.adapter_rank
        self.routing = routing
        n_in, n_out = base.in_features, base.out_features
        self.lora_A: nn.Parameter | None = None
        self.lora_B: nn.Parameter | None = None
        if shared:
            self.lora_A = nn.Parameter(kaiming_a((rank, n_in)))
            self.lora_B = nn.Parameter(torch.zeros(n_out, rank))
        r = self.adapter_rank
        self.adapter_A = nn.ParameterList([nn.Parameter(kaiming_a((r, n_in))) for _ in range(num_adapters)])
        self.adapter_B = nn.ParameterList([nn.Parameter(torch.zeros(n_out, r)) for _ in range(num_adapters)])
        self.to(device=base.weight.device, dtype=base.weight.dtype)

    @property
    def num_adapters(self) -> int:
        """Number of routed adapters in the bank (0 for plain LoRA)."""
        return len(self.adapter_A)

    def adapter_parameters(self, i: int) -> list[nn.Parameter]:
        """The two factors of adapter ``i`` (used to assign them to a task or an expert)."""
        return [self.adapter_A[i], self.adapter_B[i]]

    def forward(self, x: Tensor) -> Tensor:
        out = self.base(x)
        shared = None
        if self.lora_A is not None and self.lora_B is not None:
            shared = (self.lora_A, self.lora_B * self.scaling)
        bank = None
        if self.num_adapters:
            bank = (torch.stack(list(self.adapter_A)), torch.stack(list(self.adapter_B)) * self.adapter_scaling)
        route = self.routing
        factors = grouped_factors(route.groups, shared, bank, route.index, route.weights)
        return out if factors is None else add_grouped_low_rank(out, x, *factors)

    def extra_repr(self) -> str:
        shared = self.lora_A is not None
        return f"rank={self.rank}, shared={shared}, adapters={self.num_adapters}, scaling={self.scaling:g}"


def inject_lora(
    model: nn.Module,
    targets: tuple[str, ...],
    rank: int,
    alpha: float,
    shared: bool,
    num_adapters: int,
    routing: AdapterRouting,
    adapter_rank: int | None = None,
) -> list[LoRALinear]:
    """Replace every ``nn.Linear`` child whose attribute name is in ``targets`` by a LoRALinear.

    Returns the new layers in module order. Raises ConfigError when nothing matched, because a
    silently un-adapted frozen backbone would train only the heads.
    """
    matches = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in targets and isinstance(child, nn.Linear)
    ]
    if not matches:
        raise ConfigError(f"no nn.Linear named {targets} found in {type(model).__name__} for LoRA")
    layers = []
    for parent, name, child in matches:
        layer = LoRALinear(child, rank, alpha, shared, num_adapters, routing, adapter_rank)
        setattr(parent, name, layer)
        layers.append(layer)
    return layers
