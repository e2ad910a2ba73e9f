"""Test frames under corruptions, as the robustness benchmark evaluates them (docs/model.md "Robustness benchmark").

Where the corruption happens:

- ``at="input"`` (default, as the paper's release does): the uint8 RGB frame is first resized to the
  model's input size, then corrupted, then normalised. ``elastic_transform`` is the only corruption
  that moves geometry; its displacement field, drawn at input resolution, is resampled to the label
  resolution (and scaled to its pixels) so the label mask moves with the image.
- ``at="native"``: the frame is corrupted at its stored resolution (mask warped by ``corrupt_pair``),
  then resized to the model input.

Corruption runs in DataLoader workers (a Dataset that corrupts in ``__getitem__``). Each image's seed
is a hash of (seed, frame_id, corruption, severity), so results do not depend on the worker count or
batch size, and two runs give the same numbers. Items are ordered condition by condition, so a batch
may mix conditions; each prediction is routed to its condition's meter.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from endoarss.data.augment import resize_image
from endoarss.data.dataset import SegActDataset, SplitData, collate, decode_record, usable_workers
from endoarss.robustness import imagenet_c
from endoarss.robustness.corruptions import corrupt, corrupt_pair
from schemas.progress import ProgressFn

CLEAN = "clean"
Condition = tuple[str, int]  # (corruption name, severity); (CLEAN, 0) is the baseline


def image_seed(seed: int, frame_id: str, corruption: str, severity: int) -> int:
    """Per-image corruption seed in [0, 2**32): stable across processes (unlike ``hash``)."""
    key = f"{seed}\0{frame_id}\0{corruption}\0{severity}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little")


def _resample_field(field: tuple[np.ndarray, np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A displacement field (dy, dx) in pixels of one grid, expressed on a grid of ``shape`` (H, W)."""
    import cv2

    dy, dx = field
    if dy.shape == tuple(shape):
        return dy, dx
    size = (shape[1], shape[0])
    sy, sx = shape[0] / dy.shape[0], shape[1] / dy.shape[1]
    return (
        cv2.resize(dy, size, interpolation=cv2.INTER_LINEAR) * sy,
        cv2.resize(dx, size, interpolation=cv2.INTER_LINEAR) * sx,
    )


def corrupt_sample(
    image: np.ndarray,
    mask: np.ndarray,
    condition: Condition,
    image_size: tuple[int, int],
    at: str,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(model-input image, label-resolution mask) of one frame under ``condition``; see the module docstring."""
    name, severity = condition
    if name == CLEAN:
        return resize_image(image, image_size), mask
    if at == "native":
        image, mask = corrupt_pair(image, mask, name, severity, seed)
        return resize_image(image, image_size), mask
    small = resize_image(image, image_size)
    out = corrupt(small, name, severity, seed)
    if name == "elastic_transform":
        field = _resample_field(imagenet_c.elastic_field(small.shape[:2], severity, seed), mask.shape)
        mask = imagenet_c.warp(mask, field, order=0).astype(mask.dtype, copy=False)
    return out, mask


class CorruptedSplit(Dataset):
    """Items ``condition_index * frames + frame``: a frame under one condition, as evaluation batches hold it."""

    def __init__(
        self,
        data: SplitData,
        image_size: tuple[int, int],
        conditions: Sequence[Condition],
        at: str,
        seed: int,
        cache: str = "off",
    ) -> None:
        self.data = data
        self.image_size = tuple(image_size)
        self.conditions = list(conditions)
        self.at = at
        self.seed = seed
        self.frames = len(data)
        # at="input" corrupts the frame resized to the model input: exactly the evaluation arrays, which
        # the decoded-sample cache holds (at="native" needs the stored resolution, so it decodes).
        self.inputs = SegActDataset(data, image_size, train=False) if at == "input" else None
        if self.inputs is not None:
            from endoarss.data.cache_setup import attach_cache

            attach_cache(self.inputs, cache)

    def __len__(self) -> int:
        return self.frames * len(self.conditions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        which, frame = divmod(int(index), self.frames)
        if self.inputs is not None:
            image, mask = self.inputs.arrays(frame)
            activity, frame_id = self.inputs.activities[frame], self.inputs.frame_ids[frame]
        else:
            row = self.data.table[frame]
            (image, mask), activity, frame_id = decode_record(row), row["activity"], row["frame_id"]
        name, severity = self.conditions[which]
        seed = image_seed(self.seed, str(frame_id), name, severity)
        image, mask = corrupt_sample(image, np.array(mask), (name, severity), self.image_size, self.at, seed)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "label_mask": mask,
            "activity": int(activity),
            "frame_id": frame_id,
            "condition": which,
        }


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    batch = collate(items)
    batch["condition"] = [it["condition"] for it in items]
    return batch


@torch.no_grad()
def evaluate_conditions(
    model: torch.nn.Module,
    dataset: CorruptedSplit,
    num_classes: int,
    num_activities: int,
    batch_size: int = 16,
    num_workers: int = 0,
    compat: bool = False,
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager | None = None,
    on_progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """One metrics dict per condition of ``dataset`` (scoring as in :func:`endoarss.inference.evaluate.evaluate_model`)."""
    from endoarss.inference.evaluate import inference_batches, score_batch, task_metrics
    from endoarss.metrics import SegActMeter

    tasks = list(getattr(model, "tasks", ()))
    meters = [SegActMeter(num_classes, num_activities, compat=compat) for _ in dataset.conditions]
    workers = usable_workers(num_workers)  # capped at the CPUs: torch warns (twice) above that
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate)
    for out, batch in inference_batches(model, loader, len(dataset), device, autocast, on_progress):
        score_batch(out, batch, tasks, lambda i, c=batch["condition"]: meters[c[i]])
    return [task_metrics(m, tasks) for m in meters]
