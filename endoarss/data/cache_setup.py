"""Connect a :class:`~endoarss.data.dataset.SegActDataset` to the decoded-sample cache, and check a dataset before use.

``attach_cache`` fills the cache with the dataset's own ``prepare`` (the uncached path), so cached and
uncached samples are the same arrays by construction; filling runs in DataLoader workers (one thread
each) and, with verification on, is also the pass that checks every PNG signature and mask value.
``verify_dataset`` compares a local dataset's files with the hashes its manifest lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from endoarss.data.dataset import (
    SegActDataset,
    SplitData,
    dataset_is_local,
    pin_worker_threads,
    single_thread_opencv,
    usable_workers,
)
from endoarss.data.frames import NO_VERIFY_HINT, DataError
from endoarss.data.sample_cache import EntryKey, SampleCache, cache_root, dataset_key, open_or_build
from schemas.dataset import DatasetError, check_outputs_unchanged, parquet_files, read_manifest


def verify_dataset(source: str | Path) -> None:
    """DataError unless every file listed in a local dataset's manifest ``outputs`` is there, unchanged.

    Hub datasets are skipped here (the Hub addresses files by content); their frames are still checked
    while they are read (``endoarss.data.frames``).
    """
    if not dataset_is_local(source):
        return
    try:
        check_outputs_unchanged(Path(source))
    except DatasetError as exc:
        raise DataError(f"{exc}; {NO_VERIFY_HINT}") from None


def split_key(split: SplitData) -> str:
    """Content key of one split: manifest version + output hashes and its Parquet files (local), or the
    ``datasets`` fingerprint (Hub)."""
    files: list[str] = []
    manifest = None
    if dataset_is_local(split.source):
        files = [str(p) for p in parquet_files(Path(split.source), split.split)]
        try:
            manifest = read_manifest(Path(split.source)).model_dump(mode="json")
        except DatasetError:
            manifest = None
    fingerprint = str(getattr(split.table, "_fingerprint", ""))
    subset = f"{split.split}[:{len(split)}]"  # a --limit is its own entry
    return dataset_key(split.source, subset, files, manifest, fingerprint)


class _Prepared(Dataset):
    """Working arrays of every frame, in order; a damaged frame comes back as its error (a clean message
    instead of the DataLoader's wrapped worker traceback)."""

    def __init__(self, dataset: SegActDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset.prepare(index)
        except DataError as exc:
            return exc


def _as_is(item: Any) -> Any:
    return item


def prepared_samples(dataset: SegActDataset, workers: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every frame's working (image, mask), decoded by ``workers`` DataLoader processes (0: this one)."""
    workers = usable_workers(workers)
    if workers:
        single_thread_opencv()
    loader = DataLoader(
        _Prepared(dataset), batch_size=None, num_workers=workers, collate_fn=_as_is, worker_init_fn=pin_worker_threads
    )
    for item in loader:
        if isinstance(item, DataError):
            raise DataError(str(item))
        yield item


def attach_cache(dataset: SegActDataset, setting: str = "auto", workers: int = 0) -> SampleCache | None:
    """Give ``dataset`` its cache entry (built now if missing or bad) per ``cache=auto|off|DIR``.

    Returns the cache, or None when it is off or cannot be written (then a CacheWarning said why).
    """
    root = cache_root(setting)
    if root is None or len(dataset) == 0:
        return None
    kind = "train" if dataset.train else "eval"
    key = EntryKey(split_key(dataset.data), dataset.data.split, kind, tuple(dataset.size), dataset.verify)
    h, w = dataset.size
    mask_area = h * w if dataset.train else _label_area(dataset)
    estimate = len(dataset) * (h * w * 3 + mask_area)
    dataset.cache = None
    cache = open_or_build(root, key, len(dataset), estimate, lambda: prepared_samples(dataset, workers))
    dataset.cache = cache
    return cache


def _label_area(dataset: SegActDataset) -> int:
    """Pixels of the first frame's label mask (frames of one split share a size in practice)."""
    _, mask = dataset.prepare(0)
    return int(mask.size)
