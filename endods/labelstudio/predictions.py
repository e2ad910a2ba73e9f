"""Read an `endods predict` output folder and match it to dataset frames.

Format (shared with the trainer's `endods predict`):
- `masks/<stem>.png`: single-channel PNG, pixel = predicted segmentation class id;
- `activities.csv`: header `frame,activity,<one probability column per activity name>`, where
  `frame` is the stem and `activity` the predicted activity name.

The stem of a frame is its frame_id with every "/" replaced by "__" (`seq_3/frame042` ->
`seq_3__frame042`): file-system safe, one flat folder, and reversible because frame ids never
contain "__" at a "/" boundary. A `frame` value that is a full frame_id is accepted too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from endods.labelstudio.client import LabelStudioError
from endods.pngio import PngError, decode_png
from schemas.labelmaps import LabelMap
from schemas.records import frame_stem

MASKS_DIR = "masks"
ACTIVITIES_CSV = "activities.csv"


@dataclass(frozen=True)
class Prediction:
    mask_path: Path
    activity: int


def load_predictions(folder: Path, labelmap: LabelMap) -> dict[str, Prediction]:
    """Map stem -> Prediction; LabelStudioError naming the file and value for anything malformed."""
    folder = Path(folder)
    csv_path = folder / ACTIVITIES_CSV
    if not csv_path.is_file():
        raise LabelStudioError(f"{csv_path}: missing; --predictions must be an `endods predict` output folder")
    out: dict[str, Prediction] = {}
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"frame", "activity"} <= set(reader.fieldnames):
            raise LabelStudioError(f"{csv_path}: header must start with frame,activity (got {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            stem = frame_stem(row["frame"])
            try:
                activity = labelmap.activity_index(row["activity"])
            except KeyError as exc:
                raise LabelStudioError(f"{csv_path}:{line}: {exc.args[0]}") from None
            out[stem] = Prediction(folder / MASKS_DIR / f"{stem}.png", activity)
    return out


def read_prediction_mask(pred: Prediction, shape: tuple[int, int], labelmap: LabelMap) -> np.ndarray:
    """Decoded class-id mask, checked against the frame size and the label map."""
    try:
        mask = decode_png(pred.mask_path.read_bytes())
    except (OSError, PngError) as exc:
        raise LabelStudioError(f"{pred.mask_path}: cannot read predicted mask ({exc})") from None
    if mask.ndim != 2 or mask.shape != shape:
        raise LabelStudioError(
            f"{pred.mask_path}: predicted mask is {mask.shape}, the frame is {shape} (need a 1-channel class-id PNG)"
        )
    if int(mask.max()) > labelmap.max_class_id:
        raise LabelStudioError(
            f"{pred.mask_path}: class id {int(mask.max())} > {labelmap.max_class_id} (largest id of {labelmap.dataset})"
        )
    return mask
