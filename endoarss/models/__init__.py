"""EndoARSS models: frozen DINOv2 + LoRA / TESLA / SMA, ResNet baselines, DeepLabV3 heads.

Entry point: :func:`create_model`; random backbone shapes: :func:`backbone_config_for`. The registries
(``BACKBONES``, ``ARCHS``, ``TASKS``) are plain data in ``endoarss.models.registry``; this package
imports torch only when a model-building name is first used, so the CLI can read the registries
for its choices without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from endoarss.models.registry import ARCHS, BACKBONES, TASKS, backbone_config_for

_LAZY = {"create_model": "endoarss.models.factory", "MultiTaskModel": "endoarss.models.archs"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ARCHS", "BACKBONES", "TASKS", "MultiTaskModel", "backbone_config_for", "create_model"]
