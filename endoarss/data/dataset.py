"""Read a built dataset (docs/architecture.md "Built dataset") straight into PyTorch.

Source = a local folder written by ``endods build`` (``data/{split}-*.parquet`` + ``manifest.json``) or a
Hub dataset id. PNG bytes are decoded in the DataLoader workers (``endoarss.data.frames``), never up front, or
read back from the decoded-sample cache (``endoarss.data.cache_setup``), so a split of full-resolution frames
costs only its Parquet bytes in memory.

Batches carry **uint8** images; :func:`normalize` turns them into ImageNet-normalised floats on the
model's device (4x less host→device traffic than float32). Training batches hold the uint8 mask resized
to the model input (nearest; the loss takes ``.long()`` on the device, 8x less worker traffic);
evaluation batches hold the image at the model input and the untouched mask at label resolution
(``label_masks``, a list since frames may differ in size) because predictions are upsampled back to
label resolution before metrics (docs/model.md).

Data order and augmentation are pure functions of (seed, epoch, sample index) — see :class:`EpochSampler`
— so an interrupted run resumes on exactly the batches it would have seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from endoarss.data.augment import AugmentParams, train_transform
from endoarss.data.frames import DataError, decode_cell, decode_record, eval_arrays, train_arrays, working_size
from endoarss.data.loader import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EpochSampler,
    collate,
    make_loader,
    normalize,
    pin_worker_threads,
    single_thread_opencv,
    usable_workers,
)
from endoarss.data.split import SplitData, dataset_is_local, load_labelmap, open_split
from schemas.labelmaps import IGNORE_INDEX

# The model side's one import point for data: split opening (endoarss.data.split), batching
# (endoarss.data.loader) and frame decoding (endoarss.data.frames) are re-exported here.
__all__ = [
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataError",
    "EpochSampler",
    "SegActDataset",
    "SplitData",
    "collate",
    "dataset_is_local",
    "decode_cell",
    "decode_record",
    "load_labelmap",
    "make_loader",
    "normalize",
    "open_split",
    "pin_worker_threads",
    "single_thread_opencv",
    "usable_workers",
]


class SegActDataset(Dataset):
    """Map-style dataset over a :class:`SplitData`; ``train=True`` augments, else keeps label-res masks.

    Keys are an index or an ``(index, epoch)`` pair (from :class:`EpochSampler`); the augmentation RNG is
    seeded with (seed, epoch, index). Each frame is first brought to its working arrays
    (:func:`endoarss.data.frames.train_arrays` / ``eval_arrays``), from the decoded-sample cache once
    :func:`endoarss.data.cache_setup.attach_cache` gave it one, else by decoding; both give identical
    arrays, so a sample does not depend on whether the cache is used.
    """

    def __init__(
        self,
        data: SplitData,
        image_size: tuple[int, int],
        train: bool,
        augment: AugmentParams | None = None,
        seed: int = 0,
        verify: bool = True,
    ) -> None:
        self.data = data
        self.image_size = tuple(image_size)
        self.train = train
        self.augment = augment
        self.seed = seed
        self.verify = verify
        self.cache: Any = None  # a SampleCache, set by endoarss.data.cache_setup.attach_cache
        max_scale = augment.scale_range[1] if train and augment is not None else 1.0
        self.size = working_size(self.image_size, max_scale) if train else self.image_size
        self.rows = data.table.select_columns(["image", "mask", "frame_id"])  # rows without unused columns
        meta = data.table.select_columns(["activity", "frame_id"]).to_dict()  # small columns only, not the PNGs
        self.activities, self.frame_ids = meta["activity"], meta["frame_id"]

    def __len__(self) -> int:
        return len(self.data)

    def prepare(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Working (image, mask) of frame ``index`` decoded from the table (what the cache stores)."""
        row = self.rows[int(index)]
        fn = train_arrays if self.train else eval_arrays
        return fn(row, self.size, self.data.labelmap.num_classes, self.verify)

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cache is not None:
            return self.cache.image(index), self.cache.mask(index)
        return self.prepare(index)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        image, mask = self.arrays(int(index))
        item: dict[str, Any] = {"activity": int(self.activities[index]), "frame_id": self.frame_ids[index]}
        if self.train:
            if self.augment is not None:
                rng = np.random.default_rng([self.seed, epoch, int(index)])
                image, mask = train_transform(image, mask, self.image_size, self.augment, rng)
            item["mask"] = torch.from_numpy(np.array(mask, np.uint8))  # uint8: 8x less worker IPC; .long() on device
        else:
            # a cached mask is a view of the map: collate keeps a private copy; a decoded one is private already
            item["label_mask"] = np.array(mask) if self.cache is not None else mask
        item["image"] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return item
