"""Kept as a re-export: the reader of a built dataset lives in :mod:`schemas.dataset` (shared with the
model side, importable without torch); tests and scripts written against ``endods.dataset`` still work."""

from schemas.dataset import BuiltDataset, Record, open_dataset

__all__ = ["BuiltDataset", "Record", "open_dataset"]
