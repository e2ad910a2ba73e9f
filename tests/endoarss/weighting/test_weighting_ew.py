"""EW and the shared contract of Weighting.backward (accumulation, unused params, input checks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from weighting_toy import STEPS, hand, make_toy

from endoarss.weighting import WeightingConfigError, build_weighting


def test_ew_gradient_is_sum_of_task_gradients() -> None:
    toy, ref = make_toy(STEPS[0]), hand(STEPS[0])
    weights = build_weighting("ew", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    np.testing.assert_allclose(weights.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(toy.shared_grad(), ref.G.sum(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(toy.own_grad(), ref.own.sum(0), rtol=1e-12, atol=1e-14)


def test_unused_params_get_zero_grad_not_none() -> None:
    toy = make_toy(STEPS[1])
    build_weighting("ew", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    assert toy.z.grad is not None and torch.equal(toy.z.grad, torch.zeros(3, dtype=torch.float64))
    assert toy.u.grad is not None and float(toy.u.grad) == 0.0


def test_grads_accumulate_into_existing_grad() -> None:
    toy, ref = make_toy(STEPS[0]), hand(STEPS[0])
    for p in toy.shared() + [toy.a, toy.b, toy.u]:
        p.grad = torch.ones_like(p)
    build_weighting("ew", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    np.testing.assert_allclose(toy.shared_grad(), 1.0 + ref.G.sum(0), rtol=1e-12)
    np.testing.assert_allclose(toy.own_grad(), 1.0 + ref.own.sum(0), rtol=1e-12)


def test_grad_reducer_sees_every_gradient() -> None:
    toy, ref = make_toy(STEPS[0]), hand(STEPS[0])
    weighting = build_weighting("ew", 2)
    seen: list[tuple[int, ...]] = []

    def double(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape))
        return 2 * t

    weighting.grad_reducer = double
    weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    assert seen == [(6 + 3,)]
    np.testing.assert_allclose(toy.shared_grad(), 2 * ref.G.sum(0), rtol=1e-12)


def test_float32_params_keep_their_dtype() -> None:
    toy, ref = make_toy(STEPS[0], dtype=torch.float32), hand(STEPS[0])
    build_weighting("ew", 2).backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
    assert toy.x.grad.dtype == torch.float32
    np.testing.assert_allclose(toy.shared_grad(), ref.G.sum(0), rtol=1e-5, atol=1e-6)


def test_step_counter_starts_at_one() -> None:
    weighting = build_weighting("ew", 2)
    assert weighting.step == 0
    for k in (1, 2):
        toy = make_toy(STEPS[k])
        weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
        assert weighting.step == k


@pytest.mark.parametrize("case", ["shape", "tasks", "frozen", "twice", "epoch"])
def test_bad_inputs_raise_config_error(case: str) -> None:
    toy = make_toy(STEPS[0])
    losses, shared, tasks, epoch = toy.losses(), toy.shared(), toy.tasks(), 0
    if case == "shape":
        losses = losses[:1]
    elif case == "tasks":
        tasks = tasks[:1]
    elif case == "frozen":
        shared = shared + [torch.zeros(2, dtype=torch.float64)]
    elif case == "twice":
        tasks = [[toy.a], [toy.b, toy.x]]
    else:
        epoch = -1
    with pytest.raises(WeightingConfigError):
        build_weighting("ew", 2).backward(losses, shared, tasks, epoch)
