"""Decoded-sample cache: every frame decoded once, stored as memory-mapped uint8 arrays at its working size.

Decoding a full-size PNG costs ~50x more than reading the same pixels back from a memory-mapped file,
so the first use of a split decodes every frame (in parallel DataLoader workers) into one cache entry
and later epochs, ``eval``, ``predict --data`` and ``robustness`` read from it.

Where: ``$ENDODS_CACHE/samples`` (else ``$XDG_CACHE_HOME`` or ``~/.cache`` + ``/endods/samples``), or the
folder given as ``cache=DIR``; never inside the dataset or the RUN folder. One entry is a folder
``<dataset key>-<split>-<kind>-<H>x<W>`` holding ``images.u8`` (N x H x W x 3), ``masks.u8`` (every mask
flattened, one after the other) and ``index.json`` (key, shapes and one CRC-32 per frame and file).

Safety: the key hashes the dataset's content (manifest version and output hashes, the split's Parquet
files) and the working size, so a changed dataset never meets an old entry. An entry is opened only
after its size and every checksum match its index; a truncated, edited or foreign entry is rebuilt
with a :class:`CacheWarning`, never used. Builders take an exclusive lock per entry (DDP ranks and
concurrent trainings: one writes, the others wait and then open it) and write into a temporary folder
renamed into place only when complete. Running out of disk while writing falls back to reading
without a cache, with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas.errors import ToolWarning

FORMAT = 1  # bump when the stored arrays or the index change meaning
MAGIC = "endoarss-sample-cache"
CACHE_MODES = ("auto", "off")  # or a folder
IMAGES_FILE, MASKS_FILE, INDEX_FILE = "images.u8", "masks.u8", "index.json"
DISK_MARGIN = 1 << 30  # auto leaves this much disk free beyond the entry itself


class CacheWarning(ToolWarning):
    """The sample cache was rebuilt or is not used; training goes on (the CLI shows it as one line)."""


@dataclass(frozen=True)
class EntryKey:
    """What a cache entry holds: a dataset content key, the split, train/eval arrays and their size."""

    dataset: str
    split: str
    kind: str  # "train" (image + mask at the working size) or "eval" (image at input size, label-res mask)
    size: tuple[int, int]
    verified: bool  # built with the integrity checks on; a verifying reader never opens an unverified entry

    @property
    def name(self) -> str:
        h, w = self.size
        return f"{self.dataset[:20]}-{self.split}-{self.kind}-{h}x{w}" + ("" if self.verified else "-unverified")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "kind": self.kind,
            "size": list(self.size),
            "verified": self.verified,
        }


def default_root() -> Path:
    """``$ENDODS_CACHE/samples``, else the user cache folder + ``endods/samples``."""
    if os.environ.get("ENDODS_CACHE"):
        return Path(os.environ["ENDODS_CACHE"]) / "samples"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "endods" / "samples"


def cache_root(setting: str) -> Path | None:
    """The cache folder for a ``cache=auto|off|DIR`` setting (None for off)."""
    if setting == "off":
        return None
    return default_root() if setting == "auto" else Path(setting).expanduser()


def dataset_key(source: str, split: str, files: list[str], manifest: dict[str, Any] | None, fingerprint: str) -> str:
    """Hex digest of the dataset's content as far as it can be known without reading every byte."""
    h = hashlib.sha256(f"{MAGIC} {FORMAT}\n{split}\n".encode())
    if manifest is not None:
        h.update(str(manifest.get("version")).encode())
        h.update(json.dumps(manifest.get("outputs") or {}, sort_keys=True).encode())
    for name in files:  # size and mtime catch an edit that the manifest was not told about
        st = os.stat(name)
        h.update(f"{os.path.basename(name)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    if not files:
        h.update(fingerprint.encode())  # a Hub dataset: the datasets fingerprint follows its revision
    return h.hexdigest()


class SampleCache:
    """A complete, verified entry: ``image(i)`` and ``mask(i)`` are read-only views of memory-mapped files.

    Pickles as its folder (workers re-open the maps lazily without re-verifying).
    """

    def __init__(self, folder: Path, index: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.index = index
        self._maps: tuple[np.ndarray, np.ndarray] | None = None
        shapes = np.asarray(index["mask_shapes"], dtype=np.int64).reshape(-1, 2)
        self.mask_shapes = [tuple(int(v) for v in s) for s in shapes]
        self.mask_offsets = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.index["frames"])

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "index": self.index}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"], state["index"])

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        if self._maps is None:
            h, w = self.index["key"]["size"]
            images = np.memmap(self.folder / IMAGES_FILE, np.uint8, "r", shape=(len(self), h, w, 3))
            masks = np.memmap(self.folder / MASKS_FILE, np.uint8, "r", shape=(int(self.mask_offsets[-1]),))
            self._maps = (images, masks)
        return self._maps

    def image(self, i: int) -> np.ndarray:
        return self._open()[0][i]

    def mask(self, i: int) -> np.ndarray:
        lo, hi = self.mask_offsets[i], self.mask_offsets[i + 1]
        return self._open()[1][lo:hi].reshape(self.mask_shapes[i])


def open_entry(folder: Path, key: EntryKey, frames: int) -> tuple[SampleCache | None, str]:
    """(cache, "") for a complete entry matching ``key``; else (None, why it cannot be used)."""
    try:
        index = json.loads((folder / INDEX_FILE).read_text())
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as exc:
        return None, f"unreadable index ({exc})"
    if not isinstance(index, dict) or index.get("magic") != MAGIC or index.get("format") != FORMAT:
        return None, "written by another cache format"
    if index.get("key") != key.to_dict() or index.get("frames") != frames:
        return None, "built from another dataset version or size"
    try:
        cache = SampleCache(folder, index)
        sizes = (len(cache) * key.size[0] * key.size[1] * 3, int(cache.mask_offsets[-1]))
        for name, expected in zip((IMAGES_FILE, MASKS_FILE), sizes, strict=True):
            if (folder / name).stat().st_size != expected:
                return None, f"{name} is truncated or padded"
        images, masks = cache._open()
        for i in range(len(cache)):
            if zlib.crc32(images[i]) != index["crc_images"][i] or zlib.crc32(cache.mask(i)) != index["crc_masks"][i]:
                return None, f"frame {i} does not match its checksum (edited or damaged)"
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        return None, f"unreadable ({exc})"
    return cache, ""


@contextlib.contextmanager
def _entry_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock: one builder per entry; the others block, then find the entry complete."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _discard(folder: Path) -> None:
    """Move a bad entry aside first (atomic), so no reader ever opens it half-deleted."""
    if folder.exists():
        aside = folder.with_name(f".{folder.name}.stale-{uuid.uuid4().hex[:8]}")
        os.rename(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)


def open_or_build(
    root: Path,
    key: EntryKey,
    frames: int,
    estimate_bytes: int,
    samples: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]],
) -> SampleCache | None:
    """Open ``key``'s entry under ``root``, building it from ``samples()`` (frame order) when needed.

    Returns None (after a :class:`CacheWarning`) when the entry cannot be written: not enough disk
    or a write error. Errors raised by ``samples`` (a damaged frame) propagate.
    """
    folder = Path(root) / key.name
    cache, _ = open_entry(folder, key, frames)
    if cache is not None:
        return cache
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _entry_lock(folder.parent / f".{key.name}.lock"):
            cache, why = open_entry(folder, key, frames)  # another process may have built it meanwhile
            if cache is not None:
                return cache
            if why != "missing":
                warnings.warn(f"sample cache {folder}: {why}; rebuilding it", CacheWarning, stacklevel=2)
                _discard(folder)
            free = shutil.disk_usage(folder.parent).free
            if estimate_bytes + DISK_MARGIN > free:
                raise OSError(errno.ENOSPC, f"needs ~{estimate_bytes >> 20} MiB, {free >> 20} MiB free")
            _build(folder, key, frames, samples)
    except OSError as exc:
        warnings.warn(
            f"sample cache under {root} not used ({exc}); reading frames without a cache", CacheWarning, stacklevel=2
        )
        return None
    cache, why = open_entry(folder, key, frames)
    if cache is None:
        warnings.warn(
            f"sample cache {folder}: {why} right after writing it; reading frames without a cache",
            CacheWarning,
            stacklevel=2,
        )
    return cache


def _build(folder: Path, key: EntryKey, frames: int, samples: Callable[[], Iterator]) -> None:
    """Write the entry into a temporary sibling folder, then rename it into place (complete or absent)."""
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        crc_images, crc_masks, shapes = [], [], []
        with open(tmp / IMAGES_FILE, "wb") as fi, open(tmp / MASKS_FILE, "wb") as fm:
            for image, mask in samples():
                if image.shape != (*key.size, 3):
                    raise ValueError(f"sample of shape {image.shape}, expected {(*key.size, 3)}")
                image, mask = np.ascontiguousarray(image), np.ascontiguousarray(mask)
                fi.write(image.data)
                fm.write(mask.data)
                crc_images.append(zlib.crc32(image))
                crc_masks.append(zlib.crc32(mask))
                shapes.append(list(mask.shape))
            for fh in (fi, fm):
                fh.flush()
                os.fsync(fh.fileno())
        if len(shapes) != frames:
            raise ValueError(f"{len(shapes)} samples written, {frames} expected")
        index = {
            "magic": MAGIC,
            "format": FORMAT,
            "key": key.to_dict(),
            "frames": frames,
            "mask_shapes": shapes,
            "crc_images": crc_images,
            "crc_masks": crc_masks,
        }
        (tmp / INDEX_FILE).write_text(json.dumps(index))
        try:
            os.rename(tmp, folder)
        except OSError as exc:  # without a working lock (some network file systems) another writer won
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # its content is identical: same key, same frames
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
