"""The `datasets.Features` of a built dataset record (docs/architecture.md "Built dataset")."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from schemas.labelmaps import LabelMap

if TYPE_CHECKING:
    import datasets

# The splits a built dataset can hold, in the order they are written and listed.
SPLITS = ("train", "test")


def natural_key(text: str) -> tuple:
    """Sort `seq_2` before `seq_10`: digit runs compare as numbers."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def frame_stem(frame_id: str) -> str:
    """File stem of a frame wherever it becomes a file (predictions, Label Studio uploads):
    `seq_3/frame042` -> `seq_3__frame042`."""
    return frame_id.replace("/", "__")


def build_features(labelmap: LabelMap) -> datasets.Features:
    """Features for one dataset; activity names follow the label map's ClassLabel order."""
    import datasets

    return datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "activity": datasets.ClassLabel(names=list(labelmap.activities)),
            "frame_id": datasets.Value("string"),
            "group": datasets.Value("string"),
            "source": datasets.Value("string"),
        }
    )
