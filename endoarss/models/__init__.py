"""EndoARSS models: frozen DINOv2 + LoRA / TESLA / SMA, ResNet baseline, DeepLabV3 heads.

Entry point: :func:`create_model`; random backbone shapes: :func:`backbone_config_for`.
"""

from endoarss.models.archs import MultiTaskModel
from endoarss.models.backbones import backbone_config_for
from endoarss.models.registry import ARCHS, BACKBONES, TASKS, create_model

__all__ = ["ARCHS", "BACKBONES", "TASKS", "MultiTaskModel", "backbone_config_for", "create_model"]
