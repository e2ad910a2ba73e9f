"""TESLA (Task Efficient Shared Low-rank Adapters): batched per-group adapter math and routing.

Paper eq. 5-6: for task t an adapted linear layer computes ``h_t = (W' + sum_i a_{t,i} B_i A_i) x_t``
with W' = W0 + BA (frozen weight + shared LoRA). Instead of running the backbone once per task, the
T copies of the batch are concatenated along dim 0 (the paper's group trick): the frozen/shared part is
one matmul over all T*B rows and the adapter term is a batched matmul over the (T, r) factors. With
one-hot (task) routing, group t only ever touches adapter t, so adapter t receives gradient only from
task t's loss (explicit gradient separation, Zhou et al. 2024).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from endoarss.errors import ConfigError


def grouped_lora_delta(
    x: Tensor,
    a: Tensor,
    b: Tensor,
    groups: int,
    index: Tensor | None = None,
    weights: Tensor | None = None,
) -> Tensor:
    """Adapter term ``sum_e w[g, e] B_e A_e x`` for every row of every group, without a Python loop.

    ``x``: (G*n, ..., in) with the G groups concatenated along dim 0; ``a``: (E, r, in);
    ``b``: (E, out, r). Routing: ``weights`` (G, E) mixes adapters; else ``index`` (G,) picks one adapter
    per group; else group g uses adapter g (requires G == E). Returns (G*n, ..., out), unscaled.
    """
    if x.shape[0] % groups:
        raise ConfigError(f"batch of {x.shape[0]} rows cannot be split into {groups} equal groups")
    lead = x.shape[:-1]
    xg = x.reshape(groups, -1, x.shape[-1])  # (G, M, in): rows of one group are contiguous
    if weights is not None:
        if weights.shape != (groups, a.shape[0]):
            raise ConfigError(f"routing weights must be (groups, adapters)={(groups, a.shape[0])}")
        low = torch.einsum("gmi,eri->gmer", xg, a) * weights[:, None, :, None]
        delta = torch.einsum("gmer,eor->gmo", low, b)
    else:
        if index is not None:
            a, b = a.index_select(0, index), b.index_select(0, index)
        elif a.shape[0] != groups:
            raise ConfigError(f"{groups} groups need an explicit adapter index ({a.shape[0]} adapters)")
        delta = torch.bmm(torch.bmm(xg, a.transpose(1, 2)), b.transpose(1, 2))
    return delta.reshape(*lead, b.shape[1])


class TaskRouter(nn.Module):
    """Router weights a_{t, i} of TESLA's general form.

    ``mode="task"``: one-hot task routing (TESLA proper, no parameters). ``mode="learned"``: per-task
    softmax over learnable logits (zero-initialised, i.e. uniform), one Parameter per task so each row
    is a task-specific parameter.
    """

    def __init__(self, num_tasks: int, num_adapters: int, mode: str = "task") -> None:
        super().__init__()
        if mode not in ("task", "learned"):
            raise ConfigError(f"TESLA router must be 'task' or 'learned', got {mode!r}")
        if mode == "task" and num_adapters != num_tasks:
            raise ConfigError(f"task routing needs one adapter per task, got {num_adapters} for {num_tasks}")
        self.mode = mode
        self.num_adapters = num_adapters
        self.logits = nn.ParameterList(
            [nn.Parameter(torch.zeros(num_adapters)) for _ in range(num_tasks if mode == "learned" else 0)]
        )

    def weights(self, tasks: list[int] | None = None) -> Tensor | None:
        """(len(tasks), E) routing weights for the given task ids, or None for one-hot task routing."""
        if self.mode == "task":
            return None
        rows = range(len(self.logits)) if tasks is None else tasks
        return torch.stack([self.logits[t].softmax(0) for t in rows])

    def index(self, tasks: list[int], device: torch.device) -> Tensor:
        """Adapter id per group when each group runs exactly one task (one-hot routing)."""
        return torch.tensor(tasks, dtype=torch.long, device=device)
