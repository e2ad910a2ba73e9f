"""Rank frames by how much a model disagrees with their current labels, likely errors first.

Score = 1 if the activities differ, plus (1 - the lowest per-class mask IoU). IoU is taken per
class present in the label or the prediction, over pixels not marked ignore in the label; a frame
where neither shows any class has IoU 1. The score ranges 0..2, so an activity mismatch always
outranks any mask disagreement alone; ties go in natural frame_id order (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from schemas.labelmaps import IGNORE_INDEX, LabelMap
from schemas.records import natural_key

LOW_IOU = 0.5  # below this a class is named in the review tag


@dataclass(frozen=True)
class Disagreement:
    frame_id: str
    activity_label: str
    activity_model: str
    class_iou: dict[str, float] = field(default_factory=dict)

    @property
    def activity_mismatch(self) -> bool:
        return self.activity_label != self.activity_model

    @property
    def min_iou(self) -> float:
        return min(self.class_iou.values(), default=1.0)

    @property
    def score(self) -> float:
        return round(float(self.activity_mismatch) + (1.0 - self.min_iou), 6)

    def tag(self) -> str:
        """Short text shown to the reviewer, e.g. `activity: label grasping, model cutting; low IoU: ...`."""
        parts = []
        if self.activity_mismatch:
            parts.append(f"activity: label {self.activity_label}, model {self.activity_model}")
        low = [f"{name} {iou:.2f}" for name, iou in self.class_iou.items() if iou < LOW_IOU]
        if low:
            parts.append("low mask IoU: " + ", ".join(low))
        return "; ".join(parts) or "model agrees"


def class_ious(label: np.ndarray, model: np.ndarray, labelmap: LabelMap) -> dict[str, float]:
    """IoU per foreground class present in either mask, ignore pixels of the label excluded."""
    valid = label != IGNORE_INDEX
    n = labelmap.num_classes
    lab = label[valid].astype(np.int64)
    mod = np.minimum(model[valid].astype(np.int64), n)  # out-of-map ids land in an overflow bin
    joint = np.bincount(lab * (n + 1) + mod, minlength=(n + 1) * (n + 1)).reshape(n + 1, n + 1)
    inter = np.diag(joint)[:n]
    union = joint[:n].sum(1) + joint[:, :n].sum(0) - inter
    return {labelmap.classes[c].name: float(inter[c] / union[c]) for c in range(1, n) if union[c] > 0}


def score_frame(
    frame_id: str,
    label_mask: np.ndarray,
    label_activity: int,
    model_mask: np.ndarray,
    model_activity: int,
    labelmap: LabelMap,
) -> Disagreement:
    return Disagreement(
        frame_id,
        labelmap.activities[label_activity],
        labelmap.activities[model_activity],
        class_ious(label_mask, model_mask, labelmap),
    )


def review_order(items: list[Disagreement]) -> list[Disagreement]:
    """Highest score first; equal scores in natural frame_id order."""
    return sorted(items, key=lambda d: (-d.score, natural_key(d.frame_id)))
