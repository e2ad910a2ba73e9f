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

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from endoarss.data.augment import AugmentParams, train_transform
from endoarss.data.frames import DataError, decode_cell, decode_record, eval_arrays, train_arrays, working_size
from endoarss.data.source import is_local
from schemas.dataset import DatasetError, parquet_files, read_manifest
from schemas.labelmaps import IGNORE_INDEX, LabelMap
from schemas.manifest import MANIFEST_NAME, Manifest

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
__all__ = [
    "IGNORE_INDEX",
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
    "usable_workers",
]


@dataclass
class SplitData:
    """One split of a built dataset: the Arrow table (images undecoded), its label map and dataset name."""

    table: Any  # datasets.Dataset with image/mask as raw PNG bytes
    labelmap: LabelMap
    dataset: str
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.table)


def dataset_is_local(source: str | Path) -> bool:
    """True for an existing folder, False for a Hub id ``ORG/NAME``; DataError naming the path otherwise."""
    return is_local(source, _missing_dataset)


def _missing_dataset(source: str) -> DataError:
    return DataError(
        f"{source}: no such dataset folder (give a folder written by `endods build`, or a Hub dataset id ORG/NAME)"
    )


def load_labelmap(source: str | Path) -> tuple[LabelMap, str]:
    """Label map + dataset name from ``manifest.json`` (local folder, or the file in a Hub dataset repo),
    read through the shared :class:`schemas.manifest.Manifest`."""
    try:
        if dataset_is_local(source):
            manifest = read_manifest(Path(source))
        else:
            manifest = Manifest.model_validate_json(_hub_manifest_text(str(source)))
    except DatasetError as exc:
        raise DataError(str(exc)) from None
    except ValueError as exc:  # pydantic's ValidationError included
        raise DataError(f"{source}/manifest.json: not a valid manifest: {exc}") from None
    return LabelMap.from_dict(manifest.dataset, manifest.label_maps), str(manifest.dataset)


def _hub_manifest_text(repo_id: str) -> str:
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, MANIFEST_NAME, repo_type="dataset")).read_text()
    except Exception as exc:  # network, auth, missing file: all mean "cannot get the label map"
        raise DataError(f"{repo_id}: cannot fetch manifest.json from the Hub: {exc}") from None


def open_split(source: str | Path, split: str) -> SplitData:
    """Open one split without decoding images; check the activity names against the manifest."""
    local = dataset_is_local(source)  # before importing datasets: a mistyped path fails at once
    import datasets

    datasets.disable_progress_bars()  # library code never draws; the CLI shows its own progress
    try:
        labelmap, name = load_labelmap(source)
    except DataError:
        if local:
            raise
        labelmap, name = None, None  # Hub dataset without manifest.json: fall back to its ClassLabel below
    if local:
        files = [str(p) for p in parquet_files(Path(source), split)]
        if not files:
            raise DataError(f"{source}: no data/{split}-*.parquet files (split {split!r} missing)")
        table = datasets.load_dataset("parquet", data_files={split: files}, split=split)
    else:
        try:
            table = datasets.load_dataset(str(source), split=split)
        except Exception as exc:
            raise DataError(f"{source}: cannot load split {split!r} from the Hub: {exc}") from None
    missing = {"image", "mask", "activity", "frame_id"} - set(table.column_names)
    if missing:
        raise DataError(f"{source} [{split}]: missing columns {sorted(missing)}")
    names = getattr(table.features["activity"], "names", None)
    if labelmap is None:
        labelmap = _labelmap_from_activities(source, names)
        name = labelmap.dataset
    if names is not None and list(names) != list(labelmap.activities):
        raise DataError(
            f"{source} [{split}]: activity ClassLabel names {names} differ from manifest {list(labelmap.activities)}"
        )
    table = table.cast_column("image", datasets.Image(decode=False))
    table = table.cast_column("mask", datasets.Image(decode=False))
    return SplitData(table, labelmap, name, str(source), split)


def _labelmap_from_activities(source: str | Path, names: list[str] | None) -> LabelMap:
    """Known label map whose activities equal the ClassLabel names (class names are then the defaults)."""
    from schemas.labelmaps import LABEL_MAPS

    for labelmap in LABEL_MAPS.values():
        if names is not None and list(labelmap.activities) == list(names):
            return labelmap
    raise DataError(f"{source}: no manifest.json and activity names {names} match no known label map")


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
        meta = data.table.select_columns(["activity", "frame_id"]).to_dict()  # small columns only, not the PNGs
        self.activities, self.frame_ids = meta["activity"], meta["frame_id"]

    def __len__(self) -> int:
        return len(self.data)

    def prepare(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Working (image, mask) of frame ``index`` decoded from the table (what the cache stores)."""
        row = self.data.table[int(index)]
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
            item["label_mask"] = np.array(mask)  # a private copy: collate keeps it after the map moves on
        item["image"] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return item


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack fixed-size fields; keep label-resolution masks (variable size) as a list of arrays."""
    batch: dict[str, Any] = {
        "image": torch.stack([it["image"] for it in items]),
        "activity": torch.tensor([it["activity"] for it in items], dtype=torch.long),
        "frame_id": [it["frame_id"] for it in items],
    }
    if "mask" in items[0]:
        batch["mask"] = torch.stack([it["mask"] for it in items])
    if "label_mask" in items[0]:
        batch["label_masks"] = [it["label_mask"] for it in items]
    return batch


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B,3,H,W) → float32 ImageNet-normalised, on the images' device."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``: a permutation drawn from (seed, epoch) when shuffling, else 0..n-1.

    Accelerate shards the batches of this sampler across ranks (rank r takes batches r, r+W, ...), so
    every rank derives the same global order without communication.
    """

    def __init__(self, length: int, seed: int, shuffle: bool) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=gen).tolist()
        else:
            order = list(range(self.length))
        return iter((i, self.epoch) for i in order)


def make_loader(
    dataset: SegActDataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    drop_last: bool,
) -> DataLoader:
    """DataLoader with an :class:`EpochSampler` and :func:`collate`; pass it to ``accelerator.prepare``.

    ``num_workers`` is capped at the usable CPUs; the batches do not depend on it (see EpochSampler).
    """
    workers = usable_workers(num_workers)
    if workers:
        single_thread_opencv()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), seed, shuffle),
        num_workers=workers,
        collate_fn=collate,
        drop_last=drop_last,
        persistent_workers=False,
        worker_init_fn=pin_worker_threads,
    )


def single_thread_opencv() -> None:
    """Set OpenCV to one thread in *this* process, before DataLoader workers fork from it.

    OpenCV's pthreads pool cannot be resized in a forked child whose parent had used it: the child
    waits forever for pool threads that fork did not copy (measured: 12 hangs in 20 forks with
    OpenCV 4.12). So the parent, which only collates batches once workers decode, pins first.
    """
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def pin_worker_threads(worker_id: int) -> None:
    """One OpenCV and one torch thread per DataLoader worker: workers are the parallelism, and nested
    thread pools on a few cores oversubscribe them. The parent pinned OpenCV before forking (see
    :func:`single_thread_opencv`), so this call is then a no-op that keeps spawned workers pinned too."""
    single_thread_opencv()
    torch.set_num_threads(1)


def usable_workers(requested: int) -> int:
    """``requested`` DataLoader workers capped at the CPUs this process may run on (torch warns above)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no sched_getaffinity outside Linux
        cpus = os.cpu_count() or 1
    return max(0, min(requested, cpus))
