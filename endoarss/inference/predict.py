"""Run a trained RUN on image files or on a split of a built dataset and write a prediction folder.

```
OUT/
  masks/<stem>.png      mode L, class id per pixel, at the original image size
  overlays/<stem>.png   RGB image blended with the label-map colours of the predicted classes
  activities.csv        frame, activity, then one probability column per activity name (label-map order)
```
The Label Studio export (``endods labelstudio export --predictions OUT``) reads exactly this layout, so
the file names are part of the contract. :func:`predict` names outputs by the image file stem;
:func:`predict_split` by the frame's stem (frame_id with "/" → "__", as ``endods.labelstudio``) and
writes the full frame_id in the ``frame`` column, so its folder feeds the export directly. Masks are
upsampled (bilinear logits) to the original size before the argmax, as in evaluation. A model without
the segmentation (activity) task writes no masks and overlays (no activities.csv).

OUT is written into a hidden sibling folder and swapped in at the end, so it never mixes files of two
runs (nor holds a half-written result after a crash). An existing OUT is replaced only when it looks
like a prediction folder (nothing but the entries above); any other folder is refused (docs/architecture.md, "Outputs").
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from endoarss.data.augment import resize_image
from endoarss.data.dataset import DataError, SegActDataset, make_loader, normalize, open_split
from endoarss.data.frames import decode_rgb
from endoarss.engine.run_folder import LoadedRun, check_labelmaps_compatible, load_run
from schemas.atomic import atomic_file, replace_dir, staging_dir
from schemas.labelmaps import LabelMap
from schemas.outputs import OutputKind, output_lock
from schemas.outputs import check_output as check_policy
from schemas.progress import ProgressFn
from schemas.records import frame_stem

MASKS_DIR = "masks"
OVERLAYS_DIR = "overlays"
ACTIVITIES_FILE = "activities.csv"
OVERLAY_ALPHA = 0.5

# One frame to predict: (output file stem, value of the `frame` column, RGB uint8 HxWx3 image at its
# stored size or None when no overlay is drawn, stored (height, width)).
Frame = tuple[str, str, np.ndarray | None, tuple[int, int]]
# One batch: its frames and the model input, uint8 (B, 3, H, W) at the config's image size.
Batch = tuple[list[Frame], torch.Tensor]


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


def is_prediction_folder(folder: Path) -> bool:
    """True if ``folder`` holds nothing but the entries a prediction writes."""
    return all(p.name in (MASKS_DIR, OVERLAYS_DIR, ACTIVITIES_FILE) for p in Path(folder).iterdir())


# Derived results: a previous prediction folder is replaced without --overwrite, any other never.
PREDICT_OUTPUT = OutputKind("endods predict", is_prediction_folder, needs_overwrite=False)


def check_prediction_folder(
    out: Path, overwrite: bool = False, inputs: Iterable[Path | str] = (), sealed: Iterable[Path | str] = ()
) -> None:
    """Refuse an ``out`` the output policy forbids (:mod:`schemas.outputs`), e.g. a folder that is not a
    prediction folder, the current folder, or a place inside the dataset being predicted."""
    check_policy(Path(out), PREDICT_OUTPUT, overwrite=overwrite, inputs=inputs, sealed=sealed)


def _check_unique(stems: list[str], what: str) -> None:
    duplicates = sorted(stem for stem, count in Counter(stems).items() if count > 1)
    if duplicates:
        raise DataError(f"several {what} share the file stem(s) {duplicates}; outputs would overwrite each other")


def predict(
    run: Path,
    images: Sequence[Path],
    out: Path,
    checkpoint: str = "best",
    batch_size: int = 8,
    weights: str | None = None,
    on_progress: ProgressFn | None = None,
    overwrite: bool = False,
) -> Path:
    """Predict every image; write ``out`` (see module docstring) and return it. Stems must be unique."""
    images = [Path(p) for p in images]
    check_prediction_folder(Path(out), overwrite, inputs=images)
    _check_unique([p.stem for p in images], "images")
    loaded = load_run(Path(run), checkpoint, weights)
    batches = _file_batches(images, batch_size, loaded.config.image_size)
    return _predict_batches(loaded, batches, len(images), Path(out), on_progress)


def _file_batches(images: list[Path], batch_size: int, size: tuple[int, int]) -> Iterator[Batch]:
    for start in range(0, len(images), batch_size):
        frames = [(p.stem, p.stem, read_rgb(p)) for p in images[start : start + batch_size]]
        inputs = np.stack([resize_image(im, size).transpose(2, 0, 1) for _, _, im in frames])
        yield [(stem, frame, im, im.shape[:2]) for stem, frame, im in frames], torch.from_numpy(inputs)


def predict_split(
    run: Path,
    data: str | Path,
    split: str = "test",
    *,
    out: Path,
    checkpoint: str = "best",
    batch_size: int = 8,
    weights: str | None = None,
    limit: int | None = None,
    on_progress: ProgressFn | None = None,
    overwrite: bool = False,
    verify: bool = True,
    cache: str = "auto",
    num_workers: int = 0,
) -> Path:
    """Predict the frames of ``split`` of a built dataset (folder or Hub id), the first ``limit`` if given.

    ``verify`` checks the manifest hashes first and every image's PNG signature while decoding it.
    ``cache`` (auto | off | folder, as the ``cache`` config key and ``eval``): the model input comes
    from the same decoded-sample cache entry as ``eval`` at this image size; the stored-size frame is
    decoded only for the overlays.

    Outputs are named by frame stem and ``frame`` holds the frame_id, so ``out`` is a valid
    ``endods labelstudio export --predictions`` folder for the same split (with ``limit``: for those frames).
    """
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1, got {limit}")
    check_prediction_folder(Path(out), overwrite, sealed=[data])
    if verify:
        from endoarss.data.cache_setup import verify_dataset

        verify_dataset(data)
    source = open_split(data, split)
    if limit is not None and limit < len(source):
        source = replace(source, table=source.table.select(range(limit)))
    _check_unique([frame_stem(f) for f in source.table["frame_id"]], f"frames of {data} [{split}]")
    loaded = load_run(Path(run), checkpoint, weights)
    check_labelmaps_compatible(loaded.labelmap, source.labelmap, f"{data} [{split}]")
    dataset = SegActDataset(source, loaded.config.image_size, train=False, verify=verify)
    overlays = "segmentation" in loaded.model.tasks
    batches = _split_batches(dataset, batch_size, cache, num_workers, overlays)
    return _predict_batches(loaded, batches, len(source), Path(out), on_progress)


def _split_batches(
    dataset: SegActDataset, batch_size: int, cache: str, num_workers: int, overlays: bool
) -> Iterator[Batch]:
    """Batches of the split in order, read like ``eval`` reads them (cache attached, same loader)."""
    from endoarss.data.cache_setup import attach_cache

    attach_cache(dataset, cache, num_workers)
    table = dataset.data.table.select_columns(["image"])
    start = 0
    for batch in make_loader(dataset, batch_size, False, 0, num_workers, False):
        frames = []
        for offset, (frame_id, label) in enumerate(zip(batch["frame_id"], batch["label_masks"], strict=True)):
            image = _stored_rgb(table[start + offset]["image"], frame_id, dataset.verify) if overlays else None
            frames.append((frame_stem(frame_id), frame_id, image, label.shape[:2]))
        start += len(frames)
        yield frames, batch["image"]


def _stored_rgb(cell: dict[str, Any], frame_id: str, verify: bool) -> np.ndarray:
    """The frame at its stored size, for the overlay (the cache holds only the model input)."""
    return decode_rgb(cell, f"frame {frame_id}", verify)


def _predict_batches(
    loaded: LoadedRun, batches: Iterable[Batch], total: int, out: Path, on_progress: ProgressFn | None
) -> Path:
    """The shared core: write into a staged sibling of ``out``, swapped in once every frame is done."""
    with output_lock(out):  # a second predict into the same --out fails here, before writing
        staged = staging_dir(out)
        try:
            _write_predictions(loaded, batches, total, staged, on_progress)
            replace_dir(staged, out)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    return out


@torch.no_grad()
def _write_predictions(
    loaded: LoadedRun, batches: Iterable[Batch], total: int, out: Path, on_progress: ProgressFn | None
) -> None:
    """Run the model per batch and write masks, overlays and activities.csv into ``out``."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, labelmap = loaded.model.to(device), loaded.labelmap
    tasks = list(model.tasks)
    if "segmentation" in tasks:
        (out / MASKS_DIR).mkdir(exist_ok=True)
        (out / OVERLAYS_DIR).mkdir(exist_ok=True)
    rows: list[list[str]] = []
    done = 0
    for chunk, inputs in batches:
        result = model(normalize(inputs.to(device)))
        for i, (stem, frame, image, size) in enumerate(chunk):
            if "segmentation" in tasks:
                logits = result["segmentation"][i : i + 1].float()
                up = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
                mask = up.argmax(1)[0].cpu().numpy().astype(np.uint8)
                _write_png(out / MASKS_DIR / f"{stem}.png", mask)
                _write_png(out / OVERLAYS_DIR / f"{stem}.png", overlay(image, mask, labelmap))
            if "activity" in tasks:
                probs = torch.softmax(result["activity"][i].float(), 0).cpu().numpy()
                name = labelmap.activities[int(probs.argmax())]
                rows.append([frame, name, *(f"{p:.6f}" for p in probs)])
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, total)
    if "activity" in tasks:
        _write_csv(out / ACTIVITIES_FILE, ["frame", "activity", *labelmap.activities], rows)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with atomic_file(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
