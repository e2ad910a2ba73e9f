"""Per-task gradient passes (``Weighting._task_grads``): started at each task's own loss when the losses
are a ``torch.stack``, with the same numbers as the generic path through ``objective(losses)[t]``."""

from __future__ import annotations

import pytest
import torch

from endoarss.weighting import build_weighting


def _problem(stacked: bool, calls: list[str]) -> tuple[torch.Tensor, list[torch.Tensor], list[list[torch.Tensor]]]:
    """Two tasks on a shared trunk ``w``; each head's intermediate logs when a gradient passes through it."""
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.float64)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    heads = [torch.randn(3, 2, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    trunk = torch.tanh(x @ w)
    losses = []
    for t, head in enumerate(heads):
        out = trunk @ head
        out.register_hook(lambda g, t=t: calls.append(f"head{t}"))
        losses.append((out.square().mean() + 0.1 * (t + 1)).reshape(1))
    combined = torch.stack([loss[0] for loss in losses]) if stacked else torch.cat(losses)
    return combined, [w], [[heads[0]], [heads[1]]]


@pytest.mark.parametrize("name", ["db_mtl", "moco", "aligned_mtl"])
def test_stacked_losses_give_the_generic_gradients_bit_for_bit(name: str) -> None:
    grads = {}
    for stacked in (True, False):
        losses, shared, tasks = _problem(stacked, [])
        assert (losses.grad_fn.name() == "StackBackward0") is stacked
        weights = build_weighting(name, 2).backward(losses, shared, tasks, 0)
        grads[stacked] = [weights] + [p.grad.clone() for p in shared + [p for ps in tasks for p in ps]]
    for fast, generic in zip(grads[True], grads[False], strict=True):
        assert torch.equal(fast, generic)


def test_each_task_pass_skips_the_other_tasks_head() -> None:
    for stacked, expected in ((True, ["head0", "head1"]), (False, ["head0", "head1", "head0", "head1"])):
        calls: list[str] = []
        losses, shared, tasks = _problem(stacked, calls)
        build_weighting("db_mtl", 2).backward(losses, shared, tasks, 0)
        assert sorted(calls) == sorted(expected)


def test_a_task_loss_without_graph_gets_zero_gradients() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    head = torch.randn(3, requires_grad=True)
    losses = torch.stack([(w * head).sum().square(), torch.tensor(0.5)])  # task 1 reaches no parameter
    build_weighting("moco", 2).backward(losses, [w], [[head], []], 0)
    assert w.grad is not None and torch.isfinite(w.grad).all() and head.grad is not None
