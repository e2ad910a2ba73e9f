"""Parquet shards of one split in the Hub layout (`data/<split>-0000i-of-0000N.parquet`).

`ShardWriter` appends rows in the order given, in row groups of `ROWS_PER_GROUP`, and starts a new
shard past `MAX_SHARD_BYTES`; the final names need the shard count, so shards are renamed into place
on close (`schemas.atomic.place_file`).
`BackgroundShards` runs one ShardWriter per split in a thread, so encoding the next frames and
writing/hashing the previous ones overlap (PNG decoding, file writes and sha256 all release the GIL).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.atomic import place_file
from schemas.records import SPLITS

MAX_SHARD_BYTES = 500 * 1024 * 1024
# Small row groups: little left to write when the stream ends, and cheap random access for training.
ROWS_PER_GROUP = 16
Row = dict[str, Any]  # image/mask PNG bytes, activity, frame_id, group, source


def split_num_bytes(paths: list[Path]) -> int:
    """Uncompressed data size of a split's Parquet files (what `datasets` calls a split's num_bytes)."""
    total = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


class ShardWriter:
    def __init__(self, data_dir: Path, split: str, schema: pa.Schema) -> None:
        self.data_dir, self.split, self.schema = Path(data_dir), split, schema
        self._paths: list[Path] = []
        self._digests: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._hasher = hashlib.sha256()
        self._hashed = 0  # bytes of the current shard already hashed (read back as it grows)
        self._shard_bytes = 0
        self._rows: list[Row] = []

    def append(self, row: Row) -> None:
        self._rows.append(row)
        if len(self._rows) >= ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        if self._writer is None or self._shard_bytes >= MAX_SHARD_BYTES:
            self._close_shard()
            path = self.data_dir / f"{self.split}-{len(self._paths):05d}.partial"
            self._paths.append(path)
            # PNG bytes neither compress nor dictionary-encode: trying costs time for nothing.
            self._writer = pq.ParquetWriter(
                path,
                self.schema,
                compression="none",
                use_dictionary=["group", "source"],
                write_statistics=["activity", "frame_id", "group", "source"],
            )
            self._shard_bytes = 0
        table = pa.Table.from_pydict(
            {
                "image": [{"bytes": r["image"], "path": None} for r in self._rows],
                "mask": [{"bytes": r["mask"], "path": None} for r in self._rows],
                **{k: [r[k] for r in self._rows] for k in ("activity", "frame_id", "group", "source")},
            },
            schema=self.schema,
        )
        self._writer.write_table(table, row_group_size=len(self._rows))
        self._shard_bytes += table.nbytes
        self._rows.clear()
        self._hash_new_bytes()

    def _hash_new_bytes(self) -> None:
        """Hash what the shard file gained since last time, while the bytes are still in page cache."""
        with open(self._paths[-1], "rb") as f:
            f.seek(self._hashed)
            while chunk := f.read(1 << 20):
                self._hasher.update(chunk)
                self._hashed += len(chunk)

    def _close_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        self._hash_new_bytes()  # the footer
        self._digests.append(self._hasher.hexdigest())
        self._hasher, self._hashed = hashlib.sha256(), 0

    def close(self) -> dict[str, str]:
        """Finish the split; return `{data/<final name>: sha256}` (empty when no row was written)."""
        self._flush()
        self._close_shard()
        outputs = {}
        for i, (path, digest) in enumerate(zip(self._paths, self._digests, strict=True)):
            target = path.with_name(f"{self.split}-{i:05d}-of-{len(self._paths):05d}.parquet")
            place_file(path, target)
            outputs[f"data/{target.name}"] = digest
        return outputs

    def written(self) -> list[Path]:
        self._flush()
        self._close_shard()
        return list(self._paths)

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._rows.clear()


class BackgroundShards:
    """One ShardWriter per split fed from a bounded queue by a writer thread."""

    def __init__(self, data_dir: Path, schema: pa.Schema, splits: tuple[str, ...] = SPLITS) -> None:
        self.writers = {s: ShardWriter(data_dir, s, schema) for s in splits}
        self._queue: queue.Queue = queue.Queue(maxsize=2 * ROWS_PER_GROUP)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="endods-shards", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    split, row = item
                    self.writers[split].append(row)
                except BaseException as exc:  # re-raised in the producer's thread
                    self._error = exc

    def submit(self, split: str, row: Row) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((split, row))

    def _join(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def close(self) -> dict[str, str]:
        self._join()
        outputs: dict[str, str] = {}
        for writer in self.writers.values():
            outputs.update(writer.close())
        return outputs

    def written(self) -> list[Path]:
        """Stop and return the shard files written so far (to read the rows back)."""
        self._join()
        return [p for w in self.writers.values() for p in w.written()]

    def abandon(self) -> None:
        """Stop after an error elsewhere, writing nothing more (the caller removes the folder)."""
        if self._error is None:
            self._error = RuntimeError("abandoned")  # the thread skips whatever is still queued
        self._queue.put(None)
        self._thread.join()
        for writer in self.writers.values():
            writer.discard()
