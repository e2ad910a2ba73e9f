"""Run a trained RUN on image files and write a prediction folder.

```
OUT/
  masks/<stem>.png      mode L, class id per pixel, at the original image size
  overlays/<stem>.png   RGB image blended with the label-map colours of the predicted classes
  activities.csv        frame, activity, then one probability column per activity name (label-map order)
```
The Label Studio export (``endods labelstudio export --predictions OUT``) reads exactly this layout, so
the file names are part of the contract. Masks are upsampled (bilinear logits) to the original size
before the argmax, as in evaluation. A model without the segmentation (activity) task writes no masks
and overlays (no activities.csv).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from endoarss.augment import resize_image
from endoarss.data import DataError, normalize
from endoarss.run import load_run
from schemas.labelmaps import LabelMap

MASKS_DIR = "masks"
OVERLAYS_DIR = "overlays"
ACTIVITIES_FILE = "activities.csv"
OVERLAY_ALPHA = 0.5


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, mask: np.ndarray, labelmap: LabelMap, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Blend class colours over the image where the mask is foreground (background left untouched)."""
    palette = np.array(labelmap.palette(), dtype=np.float32)
    colors = palette[mask]
    fg = (mask > 0)[..., None]
    blended = np.where(fg, (1 - alpha) * image.astype(np.float32) + alpha * colors, image.astype(np.float32))
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _write_png(path: Path, array: np.ndarray) -> None:
    """cv2 writes BGR; masks are single-channel so they go through unchanged."""
    data = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), data):
        raise DataError(f"{path}: cannot write PNG")


@torch.no_grad()
def predict(
    run: Path,
    images: Sequence[Path],
    out: Path,
    checkpoint: str = "best",
    batch_size: int = 8,
    weights: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Predict every image; write ``out`` (see module docstring) and return it. Stems must be unique."""
    images = [Path(p) for p in images]
    stems = [p.stem for p in images]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise DataError(f"several images share the file stem(s) {duplicates}; outputs would overwrite each other")
    loaded = load_run(Path(run), checkpoint, weights)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, cfg, labelmap = loaded.model.to(device), loaded.config, loaded.labelmap
    tasks = list(model.tasks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "segmentation" in tasks:
        (out / MASKS_DIR).mkdir(exist_ok=True)
        (out / OVERLAYS_DIR).mkdir(exist_ok=True)
    rows: list[list[str]] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        originals = [read_rgb(p) for p in chunk]
        batch = np.stack([resize_image(im, cfg.image_size).transpose(2, 0, 1) for im in originals])
        result = model(normalize(torch.from_numpy(batch).to(device)))
        for i, (path, image) in enumerate(zip(chunk, originals, strict=True)):
            if "segmentation" in tasks:
                logits = result["segmentation"][i : i + 1].float()
                up = F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)
                mask = up.argmax(1)[0].cpu().numpy().astype(np.uint8)
                _write_png(out / MASKS_DIR / f"{path.stem}.png", mask)
                _write_png(out / OVERLAYS_DIR / f"{path.stem}.png", overlay(image, mask, labelmap))
            if "activity" in tasks:
                probs = torch.softmax(result["activity"][i].float(), 0).cpu().numpy()
                name = labelmap.activities[int(probs.argmax())]
                rows.append([path.stem, name, *(f"{p:.6f}" for p in probs)])
        if on_progress is not None:
            on_progress(min(start + batch_size, len(images)), len(images))
    if "activity" in tasks:
        _write_csv(out / ACTIVITIES_FILE, ["frame", "activity", *labelmap.activities], rows)
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)
