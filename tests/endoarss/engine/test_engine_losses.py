"""endoarss.engine.losses: the one loss computation the trainer and the efficiency bench both use."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from endoarss.bench import efficiency
from endoarss.engine import trainer
from endoarss.engine.losses import IGNORE_INDEX, batch_losses, task_losses, weighted_backward, weighting_parameters

TASKS = ["activity", "segmentation"]


def _outputs_and_targets() -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    out = {
        "activity": torch.randn(4, 5, generator=gen, dtype=torch.bfloat16),  # as under bf16 autocast
        "segmentation": torch.randn(4, 3, 6, 6, generator=gen),
    }
    activity = torch.tensor([0, 4, 2, 1])
    mask = torch.randint(0, 3, (4, 6, 6), generator=gen, dtype=torch.uint8)
    mask[:, :2] = IGNORE_INDEX  # a third of the pixels carry no label
    return out, activity, mask


def _by_hand(out: dict[str, torch.Tensor], activity: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Mean negative log-likelihood, segmentation over labelled pixels only (docs/model.md)."""
    act_logp = torch.log_softmax(out["activity"].float(), 1)
    act = -act_logp[torch.arange(4), activity].mean()
    seg_logp = torch.log_softmax(out["segmentation"].float(), 1).permute(0, 2, 3, 1).reshape(-1, 3)
    labels = mask.reshape(-1).long()
    keep = labels != IGNORE_INDEX
    seg = -seg_logp[keep, labels[keep]].mean()
    return [act.item(), seg.item()]


def test_task_losses_are_float32_cross_entropies_that_ignore_255() -> None:
    out, activity, mask = _outputs_and_targets()
    losses = task_losses(out, activity, mask, TASKS)
    assert losses.dtype == torch.float32
    assert torch.allclose(losses, torch.tensor(_by_hand(out, activity, mask)), atol=1e-6)
    # The ignored pixels matter: scoring them as class 2 instead gives a different loss.
    unmasked = F.cross_entropy(out["segmentation"].float(), mask.long().clamp(max=2))
    assert abs(losses[1].item() - unmasked.item()) > 1e-3


def test_trainer_and_bench_give_the_same_losses_for_the_same_batch() -> None:
    """The trainer (dataset batch: uint8 mask) and the bench (int64 mask) compute identical losses."""
    out, activity, mask = _outputs_and_targets()
    from_trainer = trainer.batch_losses(out, {"activity": activity, "mask": mask, "image": None}, TASKS)
    from_bench = efficiency.task_losses(out, activity, mask.long(), tuple(TASKS))
    assert torch.equal(from_trainer, from_bench)
    assert torch.allclose(from_trainer, torch.tensor(_by_hand(out, activity, mask)), atol=1e-6)
    # One copy: neither module defines its own.
    assert trainer.batch_losses is batch_losses and efficiency.task_losses is task_losses
    assert trainer.weighted_backward is efficiency.weighted_backward is weighted_backward


def test_task_order_follows_tasks() -> None:
    out, activity, mask = _outputs_and_targets()
    forward = task_losses(out, activity, mask, ["activity", "segmentation"])
    backward = task_losses(out, activity, mask, ["segmentation", "activity"])
    assert torch.equal(forward.flip(0), backward)
    assert task_losses(out, activity, mask, ["segmentation"]).shape == (1,)


class _TwoHeads(torch.nn.Module):
    """A shared layer and one head per task, with the parameter split the weightings need."""

    tasks = ("activity", "segmentation")

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.shared = torch.nn.Linear(3, 4)
        self.heads = torch.nn.ModuleDict({"activity": torch.nn.Linear(4, 2), "segmentation": torch.nn.Linear(4, 2)})

    def task_parameters(self) -> dict[str, list[torch.nn.Parameter]]:
        return {t: list(self.heads[t].parameters()) for t in self.tasks}

    def shared_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.shared.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.shared(x)
        return torch.stack([self.heads[t](feats).pow(2).mean() for t in self.tasks])


def test_weighted_backward_clears_stale_gradients_and_uses_the_task_split() -> None:
    from endoarss.weighting import build_weighting

    model = _TwoHeads()
    params = weighting_parameters(model, ["segmentation", "activity"])
    assert params[0] == list(model.shared.parameters())
    assert params[1][0] == list(model.heads["segmentation"].parameters())  # in the order of the tasks given
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)  # stale: must not leak into the step
    losses = model(torch.ones(2, 3))
    weights = weighted_backward(losses, optimizer, build_weighting("ew", 2), weighting_parameters(model, TASKS), 0)
    expected = torch.autograd.grad(model(torch.ones(2, 3)).sum(), list(model.parameters()))
    assert weights.tolist() == [1.0, 1.0]
    for p, grad in zip(model.parameters(), expected, strict=True):
        assert torch.allclose(p.grad, grad), "EW gradients are those of the summed losses, stale ones cleared"
