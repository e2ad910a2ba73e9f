"""Batches for the model: collate, normalisation, the (seed, epoch)-ordered sampler and the DataLoader.

Data order is a pure function of (seed, epoch) - see :class:`EpochSampler` - so batches do not depend
on the number of workers or ranks, and an interrupted run resumes on exactly the batches it would have
seen. Workers run one OpenCV and one torch thread each (:func:`pin_worker_threads`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import cv2
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack fixed-size fields; keep label-resolution masks (variable size) as a list of arrays.

    Tensors are stacked by ``default_collate``: in a worker it stacks straight into shared memory, where
    ``torch.stack`` would make a batch that the worker's queue then copies into shared memory once more.
    """
    batch: dict[str, Any] = {
        "image": default_collate([it["image"] for it in items]),
        "activity": torch.tensor([it["activity"] for it in items], dtype=torch.long),
        "frame_id": [it["frame_id"] for it in items],
    }
    if "mask" in items[0]:
        batch["mask"] = default_collate([it["mask"] for it in items])
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
    dataset: Dataset,
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
