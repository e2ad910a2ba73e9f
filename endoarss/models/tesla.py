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


def grouped_factors(
    groups: int,
    shared: tuple[Tensor, Tensor] | None,
    bank: tuple[Tensor, Tensor] | None,
    index: Tensor | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, Tensor] | None:
    """Per-group factors ``(A (G, R, in), B (G, out, R))`` of each group's whole low-rank update.

    Group g's update ``B_g A_g x`` equals ``B_s A_s x + sum_e w[g, e] B_e A_e x``: the shared LoRA and the
    routed adapters are stacked along the rank, so one pair of small matmuls and ONE add into the frozen
    output serve them all (separate terms cost several extra passes over the (rows, out) activations,
    which dominate on CPU once the batched pass outgrows the cache). ``shared``: (A (r, in), B (out, r));
    ``bank``: (A (E, r, in), B (E, out, r)); scalings must already be folded into the B factors.
    Routing: ``weights`` (G, E) mixes adapters; else ``index`` (G,) picks one adapter per group; else
    group g uses adapter g (requires G == E). Returns None when there is no low-rank term at all.
    """
    a_parts: list[Tensor] = []
    b_parts: list[Tensor] = []
    if shared is not None:
        a_parts.append(shared[0].expand(groups, -1, -1))
        b_parts.append(shared[1].expand(groups, -1, -1))
    if bank is not None:
        a, b = bank
        if weights is not None:
            if weights.shape != (groups, a.shape[0]):
                raise ConfigError(f"routing weights must be (groups, adapters)={(groups, a.shape[0])}")
            # every group reads all E adapters; the mixing weights scale the B columns of each one
            a_parts.append(a.reshape(1, -1, a.shape[-1]).expand(groups, -1, -1))
            mixed = b.unsqueeze(0) * weights[:, :, None, None].to(b.dtype)  # (G, E, out, r)
            b_parts.append(mixed.permute(0, 2, 1, 3).reshape(groups, b.shape[1], -1))
        else:
            if index is not None:
                a, b = a.index_select(0, index), b.index_select(0, index)
            elif a.shape[0] != groups:
                raise ConfigError(f"{groups} groups need an explicit adapter index ({a.shape[0]} adapters)")
            a_parts.append(a)
            b_parts.append(b)
    if not a_parts:
        return None
    return torch.cat(a_parts, dim=1), torch.cat(b_parts, dim=2)


def add_grouped_low_rank(out: Tensor, x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``out + B_g A_g x`` for every row of every group, the groups concatenated along dim 0.

    ``x``: (G*n, ..., in); ``out``: (G*n, ..., out); ``a``/``b`` from :func:`grouped_factors`. The add
    is fused into the second matmul (baddbmm), so the big activations are read and written once.
    """
    groups = a.shape[0]
    if x.shape[0] % groups:
        raise ConfigError(f"batch of {x.shape[0]} rows cannot be split into {groups} equal groups")
    low = torch.bmm(x.reshape(groups, -1, x.shape[-1]), a.transpose(1, 2))  # rows of a group are contiguous
    return torch.baddbmm(out.reshape(groups, -1, out.shape[-1]), low, b.transpose(1, 2)).reshape(out.shape)


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
