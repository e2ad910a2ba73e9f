"""Write a built dataset (DESIGN.md "Built dataset"): Parquet shards in Hub layout, card, manifest.

Frames are spooled to disk as they arrive (any order, from any producer), because the split is
only known once every frame has been decoded; `finish` then writes each split in natural
frame_id order, which makes the output independent of worker count and arrival order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from endods import __version__
from endods.atomic import replace_dir, staging_dir
from endods.card import render_card
from endods.errors import OutputExistsError
from endods.hashing import sha256_file, tree_digest
from endods.split import SplitConfig, SplitKey, assign_splits, natural_key
from endods.spool import Spool
from schemas.labelmaps import LabelMap
from schemas.manifest import MANIFEST_NAME, Dropped, Manifest, Parent, SourceDigest, SplitCounts, ToolInfo
from schemas.records import build_features

MAX_SHARD_BYTES = 500 * 1024 * 1024
ROWS_PER_GROUP = 64

__all__ = ["BuildSession", "EncodedFrame", "SplitConfig"]


@dataclass
class EncodedFrame:
    """One finished record: encoded PNGs plus what the manifest needs to know about it."""

    frame_id: str
    group: str
    source: str
    activity: int
    image_png: bytes
    mask_png: bytes
    class_pixels: tuple[int, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    file_hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class _Spooled:
    frame_id: str
    group: str
    source: str
    activity: int
    image: int  # spool handles
    mask: int
    class_pixels: tuple[int, ...]
    facts: dict[str, Any]


class BuildSession:
    """Stage a dataset in a temp dir beside `out`; `finish` swaps it in, any error discards it."""

    def __init__(self, out: Path, overwrite: bool = False) -> None:
        self.out = Path(out)
        if self.out.exists() and not overwrite:
            raise OutputExistsError(f"output folder {self.out} already exists; pass --overwrite to replace it")
        self.staged: Path | None = None
        self._frames: dict[str, _Spooled] = {}
        self._dropped: list[Dropped] = []
        self._file_hashes: dict[str, str] = {}
        self._spool: Spool | None = None

    def __enter__(self) -> BuildSession:
        self.staged = staging_dir(self.out)
        self._spool = Spool(self.staged / "_spool.bin")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self.staged is not None and self.staged.exists():
            shutil.rmtree(self.staged, ignore_errors=True)

    def _put(self, data: bytes) -> int:
        assert self._spool is not None, "BuildSession used outside its with-block"
        return self._spool.put(data)

    def add(self, frame: EncodedFrame) -> None:
        if frame.frame_id in self._frames:
            raise ValueError(f"duplicate frame_id {frame.frame_id!r}")
        self._frames[frame.frame_id] = _Spooled(
            frame.frame_id,
            frame.group,
            frame.source,
            int(frame.activity),
            self._put(frame.image_png),
            self._put(frame.mask_png),
            tuple(int(c) for c in frame.class_pixels),
            dict(frame.facts),
        )
        self._file_hashes.update(frame.file_hashes)

    def drop(self, frame_id: str, reason: str, path: str) -> None:
        self._dropped.append(Dropped(frame_id=frame_id, reason=reason, path=str(path)))

    def add_file_hashes(self, hashes: dict[str, str]) -> None:
        """Source files consumed outside any single frame (label files, COCO json, phase csv)."""
        self._file_hashes.update(hashes)

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    def finish(
        self,
        dataset: str,
        labelmap: LabelMap,
        split: SplitConfig | dict[str, str],
        options: dict[str, Any] | None = None,
        sources: dict[str, str | Path] | None = None,
        parent: Parent | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Manifest:
        assert self.staged is not None and self._spool is not None
        assignment = self._assign(split)
        manifest = Manifest(
            dataset=dataset,
            tool=ToolInfo(name="endods", version=__version__),
            options={
                **(split.to_dict() if isinstance(split, SplitConfig) else {"split": "given"}),
                **(options or {}),
            },
            label_maps=labelmap.to_dict(),
            counts={},
            frames={},
            dropped=sorted(self._dropped, key=lambda d: (natural_key(d.frame_id), d.reason)),
            sources=self._source_digests(sources or {}),
            parent=parent,
            provenance=provenance or {},
        )
        data_dir = self.staged / "data"
        data_dir.mkdir()
        outputs: dict[str, str] = {}
        for split_name in ("train", "test"):
            ids = sorted((f for f, s in assignment.items() if s == split_name), key=natural_key)
            if not ids:
                continue  # an empty split is omitted, not written as 0 rows
            manifest.counts[split_name] = self._counts(ids, labelmap)
            for fid in ids:
                rec = self._frames[fid]
                manifest.frames[fid] = {
                    "split": split_name,
                    "activity": labelmap.activities[rec.activity],
                    "group": rec.group,
                    **rec.facts,
                }
            for shard in self._write_split(split_name, ids, labelmap, data_dir):
                outputs[f"data/{shard.name}"] = sha256_file(shard)
        manifest.frames = dict(sorted(manifest.frames.items(), key=lambda kv: natural_key(kv[0])))
        self._spool.close()
        self._spool = None
        readme = self.staged / "README.md"
        readme.write_text(render_card(manifest, labelmap), encoding="utf-8")
        outputs["README.md"] = sha256_file(readme)
        manifest.outputs = dict(sorted(outputs.items()))
        manifest.version = manifest.compute_version()
        (self.staged / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        replace_dir(self.staged, self.out)
        self.staged = None
        return manifest

    def _assign(self, split: SplitConfig | dict[str, str]) -> dict[str, str]:
        if isinstance(split, SplitConfig):
            keys = [SplitKey(f.frame_id, f.activity, f.group) for f in self._frames.values()]
            return assign_splits(keys, split)
        missing = set(self._frames) - set(split)
        if missing:
            raise ValueError(f"no split given for frames {sorted(missing)[:5]}")
        return {fid: split[fid] for fid in self._frames}

    def _counts(self, ids: list[str], labelmap: LabelMap) -> SplitCounts:
        activities = {name: 0 for name in labelmap.activities}
        pixels = [0] * labelmap.num_classes
        for fid in ids:
            rec = self._frames[fid]
            activities[labelmap.activities[rec.activity]] += 1
            for i, n in enumerate(rec.class_pixels[: labelmap.num_classes]):
                pixels[i] += n
        return SplitCounts(
            frames=len(ids), activities=activities, class_pixels={str(i): n for i, n in enumerate(pixels)}
        )

    def _source_digests(self, sources: dict[str, str | Path]) -> dict[str, SourceDigest]:
        roots = {name: Path(root).resolve() for name, root in sources.items()}
        grouped: dict[str, list[tuple[str, str]]] = {name: [] for name in roots}
        for key, digest in self._file_hashes.items():
            path = Path(key)
            if not path.is_absolute() and len(roots) == 1:  # a single source may key files relative to its root
                grouped[next(iter(roots))].append((path.as_posix(), digest))
                continue
            path = path.resolve()  # relative keys of several sources are relative to the working directory
            for name, root in roots.items():
                if path.is_relative_to(root):
                    grouped[name].append((path.relative_to(root).as_posix(), digest))
                    break
        return {
            name: SourceDigest(files=len(set(entries)), digest=tree_digest(entries))
            for name, entries in sorted(grouped.items())
        }

    def _write_split(self, split_name: str, ids: list[str], labelmap: LabelMap, data_dir: Path) -> list[Path]:
        schema = build_features(labelmap).arrow_schema
        shards: list[Path] = []
        writer: pq.ParquetWriter | None = None
        shard_bytes = 0
        batch: list[_Spooled] = []

        def open_shard() -> pq.ParquetWriter:
            path = data_dir / f"{split_name}-{len(shards):05d}.partial"
            shards.append(path)
            return pq.ParquetWriter(
                path,
                schema,
                # PNG bytes neither compress nor dictionary-encode: trying costs time for nothing.
                compression="none",
                use_dictionary=["group", "source"],
                write_statistics=["activity", "frame_id", "group", "source"],
            )

        def flush() -> None:
            nonlocal writer, shard_bytes
            if not batch:
                return
            if writer is None or shard_bytes >= MAX_SHARD_BYTES:
                if writer is not None:
                    writer.close()
                writer, shard_bytes = open_shard(), 0
            table = self._table(batch, schema)
            writer.write_table(table, row_group_size=len(batch))
            shard_bytes += table.nbytes
            batch.clear()

        for fid in ids:
            batch.append(self._frames[fid])
            if len(batch) >= ROWS_PER_GROUP:
                flush()
        flush()
        if writer is not None:
            writer.close()
        final = []
        for i, path in enumerate(shards):
            target = data_dir / f"{split_name}-{i:05d}-of-{len(shards):05d}.parquet"
            path.rename(target)
            final.append(target)
        return final

    def _table(self, batch: list[_Spooled], schema: pa.Schema) -> pa.Table:
        return pa.Table.from_pydict(
            {
                "image": [{"bytes": self._spool.get(r.image), "path": None} for r in batch],
                "mask": [{"bytes": self._spool.get(r.mask), "path": None} for r in batch],
                "activity": [r.activity for r in batch],
                "frame_id": [r.frame_id for r in batch],
                "group": [r.group for r in batch],
                "source": [r.source for r in batch],
            },
            schema=schema,
        )
