"""Loss weighting for multi-task training (docs/model.md "Weightings"): registry and factory.

Usage::

    weighting = build_weighting("db_mtl", num_tasks=2, beta=0.9)
    weights = weighting.backward(losses, shared_params, task_params, epoch)  # fills .grad
    optimizer.step()

Names are case-insensitive and ``-`` equals ``_`` (``"DB-MTL"`` is ``"db_mtl"``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from endoarss.weighting.base import Weighting


class _LazyClasses(Mapping[str, "type[Weighting]"]):
    """name -> class, each imported on first access: the names are readable without importing torch."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths  # name -> "module.Class"

    def __getitem__(self, name: str) -> type[Weighting]:
        module, _, cls = self._paths[name].rpartition(".")
        return getattr(importlib.import_module(module), cls)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


#: The registry: adding a weighting is one entry here plus its module (a ``Weighting`` subclass).
WEIGHTINGS: Mapping[str, type[Weighting]] = _LazyClasses(
    {
        "ew": "endoarss.weighting.ew.EW",
        "db_mtl": "endoarss.weighting.db_mtl.DBMTL",
        "stch": "endoarss.weighting.stch.STCH",
        "moco": "endoarss.weighting.moco.MoCo",
        "aligned_mtl": "endoarss.weighting.aligned_mtl.AlignedMTL",
    }
)
_CLASSES = {path.rpartition(".")[2]: path for path in WEIGHTINGS._paths.values()}  # noqa: SLF001
_BASE = ("StateDict", "Weighting", "WeightingConfigError", "WeightingStateError")


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        module, _, cls = _CLASSES[name].rpartition(".")
        return getattr(importlib.import_module(module), cls)
    if name in _BASE:
        return getattr(importlib.import_module("endoarss.weighting.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        from endoarss.weighting.base import WeightingConfigError

        raise WeightingConfigError(
            f"weighting {key!r}: unknown hyperparameter(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    return WEIGHTINGS[key](num_tasks, **hparams)


def _canonical(name: str) -> str:
    from endoarss.weighting.base import WeightingConfigError

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
