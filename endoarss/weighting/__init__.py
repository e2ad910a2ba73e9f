"""Loss weighting for multi-task training (docs/model.md "Weightings"): registry and factory.

Usage::

    weighting = build_weighting("db_mtl", num_tasks=2, beta=0.9)
    weights = weighting.backward(losses, shared_params, task_params, epoch)  # fills .grad
    optimizer.step()

Names are case-insensitive and ``-`` equals ``_`` (``"DB-MTL"`` is ``"db_mtl"``).
"""

from __future__ import annotations

import inspect
from typing import Any

from endoarss.weighting.aligned_mtl import AlignedMTL
from endoarss.weighting.base import StateDict, Weighting, WeightingConfigError, WeightingStateError
from endoarss.weighting.db_mtl import DBMTL
from endoarss.weighting.ew import EW
from endoarss.weighting.moco import MoCo
from endoarss.weighting.stch import STCH

WEIGHTINGS: dict[str, type[Weighting]] = {cls.name: cls for cls in (EW, DBMTL, STCH, MoCo, AlignedMTL)}


def weighting_hparams(name: str) -> dict[str, Any]:
    """Hyperparameter names of a weighting with their defaults (docs/model.md values)."""
    cls = WEIGHTINGS[_canonical(name)]
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # skip self, num_tasks
    return {p.name: p.default for p in params}


def build_weighting(name: str, num_tasks: int, **hparams: Any) -> Weighting:
    """Instantiate the weighting ``name`` for ``num_tasks`` tasks; unknown names or keywords raise."""
    key = _canonical(name)
    allowed = weighting_hparams(key)
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "none"
        raise WeightingConfigError(
            f"weighting {key!r}: unknown hyperparameter(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    return WEIGHTINGS[key](num_tasks, **hparams)


def _canonical(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in WEIGHTINGS:
        raise WeightingConfigError(f"unknown weighting {name!r}; choose one of {', '.join(WEIGHTINGS)}")
    return key


__all__ = [
    "WEIGHTINGS",
    "AlignedMTL",
    "DBMTL",
    "EW",
    "MoCo",
    "STCH",
    "StateDict",
    "Weighting",
    "WeightingConfigError",
    "WeightingStateError",
    "build_weighting",
    "weighting_hparams",
]
