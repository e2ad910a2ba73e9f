"""Config choices that belong to no model registry, defined once (standard library only).

``TrainConfig`` and the CLI options (e.g. ``endods bench efficiency --amp``) both read these, so the
CLI can offer them at ``--help`` without importing pydantic or torch.
"""

from __future__ import annotations

AMP_MODES = ("bf16", "fp16", "none")
SCHEDULERS = ("step", "cosine", "constant")
BEST_METRICS = ("miou", "miou_fg", "dice", "dice_fg", "ac", "f1", "ssim", "hd", "hd95")  # hd*: lower is better
AT_MODES = ("input", "native")  # where robustness corrupts a frame: at the model input size or the stored size
