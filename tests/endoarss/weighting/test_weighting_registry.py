"""Registry, hyperparameter validation and exact resume through state_dict (safetensors round trip)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from weighting_toy import STEPS, make_toy

from endoarss.errors import CheckpointError, ConfigError
from endoarss.weighting import (
    WEIGHTINGS,
    Weighting,
    WeightingConfigError,
    WeightingStateError,
    build_weighting,
    weighting_hparams,
)

MTL_DEFAULTS = {
    "ew": {},
    "db_mtl": {"beta": 0.9, "beta_sigma": 0.0},
    "stch": {"mu": 1.0, "warmup_epoch": 4},
    "moco": {"beta": 0.5, "beta_sigma": 0.5, "gamma": 0.1, "gamma_sigma": 0.5, "rho": 0.0},
    "aligned_mtl": {},
}


def test_registry_names_and_mtl_defaults() -> None:
    assert set(WEIGHTINGS) == set(MTL_DEFAULTS)
    for name, defaults in MTL_DEFAULTS.items():
        assert weighting_hparams(name) == defaults
        weighting = build_weighting(name, 2)
        assert isinstance(weighting, Weighting) and weighting.name == name
        assert weighting.hparams() == defaults


def test_names_are_normalised() -> None:
    assert build_weighting("DB-MTL", 3).name == "db_mtl"
    assert build_weighting(" Aligned_MTL ", 2).name == "aligned_mtl"


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("pcgrad", {}, "unknown weighting 'pcgrad'"),
        ("db_mtl", {"gamma": 0.1}, "unknown hyperparameter.*gamma"),
        ("ew", {"beta": 0.5}, "unknown hyperparameter.*beta"),
        ("db_mtl", {"beta": 1.5}, "beta"),
        ("stch", {"mu": 0.0}, "mu"),
        ("stch", {"warmup_epoch": 1.5}, "warmup_epoch"),
        ("moco", {"gamma": -1.0}, "gamma"),
    ],
)
def test_bad_config_raises_value_error(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(WeightingConfigError, match=match) as info:
        build_weighting(name, 2, **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConfigError)


@pytest.mark.parametrize("num_tasks", [0, -1, 2.0, True])
def test_bad_num_tasks(num_tasks: object) -> None:
    with pytest.raises(WeightingConfigError, match="num_tasks"):
        build_weighting("ew", num_tasks)  # type: ignore[arg-type]


def _step(weighting: Weighting, values: dict, epoch: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    toy = make_toy(values)
    weights = weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch)
    return weights, [p.grad.clone() for p in toy.shared() + [toy.a, toy.b, toy.u]]


# STCH with W = 1: epochs 1, 1 accumulate the nadir; the resumed step at epoch 2 must rebuild it from state.
EPOCHS = [1, 1, 2, 2]


@pytest.mark.parametrize("name", sorted(MTL_DEFAULTS))
def test_state_dict_round_trip_gives_identical_next_steps(name: str) -> None:
    hparams = {"warmup_epoch": 1} if name == "stch" else {}
    original = build_weighting(name, 2, **hparams)
    for values, epoch in zip(STEPS[:2], EPOCHS[:2], strict=True):
        _step(original, values, epoch)

    state = original.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert int(state["step"]) == 2
    resumed = build_weighting(name, 2, **hparams)
    resumed.load_state_dict(st_load(st_save(state)))
    assert resumed.step == 2

    for values, epoch in zip(STEPS[2:], EPOCHS[2:], strict=True):
        w_a, g_a = _step(original, values, epoch)
        w_b, g_b = _step(resumed, values, epoch)
        assert torch.equal(w_a, w_b)
        assert all(torch.equal(a, b) for a, b in zip(g_a, g_b, strict=True))


def test_fresh_state_differs_from_resumed_for_stateful_methods() -> None:
    # Guards the round-trip test against passing vacuously: without the state the next step differs.
    for name in ("db_mtl", "moco"):
        trained = build_weighting(name, 2)
        for values in STEPS[:2]:
            _step(trained, values, 0)
        w_a, _ = _step(trained, STEPS[2], 0)
        w_b, _ = _step(build_weighting(name, 2), STEPS[2], 0)
        assert not torch.allclose(w_a, w_b)


def test_load_state_dict_rejects_mismatch() -> None:
    state = build_weighting("moco", 3).state_dict()
    assert issubclass(WeightingStateError, CheckpointError)
    with pytest.raises(WeightingStateError, match="3 tasks"):
        build_weighting("moco", 2).load_state_dict(state)
    with pytest.raises(WeightingStateError, match="keys"):
        build_weighting("ew", 2).load_state_dict({**build_weighting("ew", 2).state_dict(), "y": torch.zeros(1)})


def test_buffer_size_mismatch_raises() -> None:
    weighting = build_weighting("db_mtl", 2)
    weighting.load_state_dict({**weighting.state_dict(), "grad_buffer": torch.zeros(2, 4, dtype=torch.float64)})
    toy = make_toy(STEPS[0])
    with pytest.raises(WeightingStateError, match="buffer"):
        weighting.backward(toy.losses(), toy.shared(), toy.tasks(), epoch=0)
