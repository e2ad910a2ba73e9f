"""Write a built dataset (docs/architecture.md "Built dataset"): Parquet shards in Hub layout, card, manifest.

The split is only certain once every frame has been decoded (a frame can still be dropped as
unreadable), so by default frames are spooled as they arrive, in any order, and `finish` writes
each split in natural frame_id order: the output does not depend on worker count or arrival order.
A producer that knows its frames in advance calls `expect`: frames are then streamed straight to
their split's shards by a background thread while later ones are still being encoded, and
`finish` checks that reality matched the plan (else it reads the shards back and writes as above).
"""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow.parquet as pq

from endods import __version__
from endods.card import render_card
from endods.errors import SourceError
from endods.shards import BackgroundShards, ShardWriter, split_num_bytes
from endods.source_digests import source_digests
from endods.split import SplitConfig, SplitKey, assign_splits
from endods.spool import Spool
from schemas.atomic import replace_dir, staging_dir
from schemas.hashing import sha256_file
from schemas.labelmaps import LabelMap
from schemas.manifest import MANIFEST_NAME, Dropped, Manifest, Parent, SplitCounts, ToolInfo
from schemas.outputs import OutputKind, check_output, claim_output
from schemas.records import SPLITS, build_features, natural_key

__all__ = ["DATASET_OUTPUT", "BuildSession", "EncodedFrame", "SplitConfig"]

# Every command that writes a dataset (build, build folder, labelstudio import) leaves its manifest.
DATASET_OUTPUT = OutputKind("endods build", MANIFEST_NAME)


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
    image: int  # spool handles; -1 while the bytes live in a streamed shard
    mask: int
    class_pixels: tuple[int, ...]
    facts: dict[str, Any]


class BuildSession:
    """Stage a dataset in a temp dir beside `out`; `finish` swaps it in, any error discards it."""

    def __init__(
        self, out: Path, overwrite: bool = False, inputs: Iterable[Path | str] = (), sealed: Iterable[Path | str] = ()
    ) -> None:
        """``inputs``/``sealed``: what the build reads (see :func:`schemas.outputs.check_output`)."""
        self.out = Path(out)
        self._policy = {"overwrite": overwrite, "inputs": list(inputs), "sealed": list(sealed)}
        check_output(self.out, DATASET_OUTPUT, **self._policy)
        self._lock = contextlib.ExitStack()
        self.staged: Path | None = None
        self._frames: dict[str, _Spooled] = {}
        self._dropped: list[Dropped] = []
        self._file_hashes: dict[str, str] = {}
        self._spool: Spool | None = None
        self._stream: BackgroundShards | None = None
        self._plan: dict[str, str] = {}
        self._last_key: dict[str, tuple] = {}

    def __enter__(self) -> BuildSession:
        # Held until __exit__: a second writer to the same --out fails here, before writing anything.
        self._lock.enter_context(claim_output(self.out, DATASET_OUTPUT, **self._policy))
        try:
            self.staged = staging_dir(self.out)
            self._spool = Spool(self.staged / "_spool.bin")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            self._stream.abandon()
            self._stream = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self.staged is not None and self.staged.exists():
            shutil.rmtree(self.staged, ignore_errors=True)
        self._lock.close()

    def _put(self, data: bytes) -> int:
        assert self._spool is not None, "BuildSession used outside its with-block"
        return self._spool.put(data)

    def add(self, frame: EncodedFrame) -> None:
        if frame.frame_id in self._frames:
            raise ValueError(f"duplicate frame_id {frame.frame_id!r}")
        rec = _Spooled(
            frame.frame_id,
            frame.group,
            frame.source,
            int(frame.activity),
            -1,
            -1,
            tuple(int(c) for c in frame.class_pixels),
            dict(frame.facts),
        )
        self._frames[frame.frame_id] = rec
        self._file_hashes.update(frame.file_hashes)
        if self._stream is not None and self._streamable(frame.frame_id):
            row = {"image": frame.image_png, "mask": frame.mask_png, "activity": rec.activity}
            self._stream.submit(
                self._plan[frame.frame_id], {**row, "frame_id": rec.frame_id, "group": rec.group, "source": rec.source}
            )
        else:
            self._unstream()
            rec.image, rec.mask = self._put(frame.image_png), self._put(frame.mask_png)

    def expect(self, keys: list[SplitKey], split: SplitConfig, labelmap: LabelMap) -> None:
        """Announce the frames to come, in natural frame_id order, to stream them as they arrive."""
        assert self.staged is not None, "BuildSession used outside its with-block"
        self._plan = assign_splits(keys, split)
        (self.staged / "data").mkdir(exist_ok=True)
        self._stream = BackgroundShards(self.staged / "data", build_features(labelmap).arrow_schema)

    def _streamable(self, frame_id: str) -> bool:
        split = self._plan.get(frame_id)
        key = natural_key(frame_id)
        if split is None or key <= self._last_key.get(split, ()):
            return False
        self._last_key[split] = key
        return True

    def _unstream(self) -> None:
        """Give up streaming: read what the shards hold back into the spool and delete them."""
        if self._stream is None:
            return
        paths, self._stream = self._stream.written(), None
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(columns=["frame_id", "image", "mask"]):
                cols = batch.to_pydict()
                for fid, image, mask in zip(cols["frame_id"], cols["image"], cols["mask"], strict=True):
                    rec = self._frames[fid]
                    rec.image, rec.mask = self._put(image["bytes"]), self._put(mask["bytes"])
            path.unlink()

    def drop(self, frame_id: str, reason: str, path: str) -> None:
        self._dropped.append(Dropped(frame_id=frame_id, reason=reason, path=str(path)))

    def add_file_hashes(self, hashes: dict[str, str]) -> None:
        """Source files consumed outside any single frame (label files, COCO json, phase csv)."""
        self._file_hashes.update(hashes)

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
        if not self._frames:
            self._refuse_empty(dataset)
        assignment = self._assign(split)
        if assignment != self._plan:
            self._unstream()  # a frame was dropped after `expect`, or the split differs: rewrite
        options = {**(split.to_dict() if isinstance(split, SplitConfig) else {"split": "given"}), **(options or {})}
        manifest = Manifest(
            dataset=dataset,
            tool=ToolInfo(name="endods", version=__version__),
            options=options,
            label_maps=labelmap.to_dict(),
            counts={},
            frames={},
            dropped=sorted(self._dropped, key=lambda d: (natural_key(d.frame_id), d.reason)),
            sources=source_digests(self._file_hashes, sources or {}),
            parent=parent,
            provenance=provenance or {},
        )
        outputs = self._write_splits(manifest, assignment, labelmap)
        self._spool.close()
        self._spool = None
        self._write_card_and_manifest(manifest, labelmap, outputs)
        replace_dir(self.staged, self.out)
        self.staged = None
        return manifest

    def _refuse_empty(self, dataset: str) -> None:
        # an empty folder would pass for a dataset but `datasets.load_dataset` cannot load it
        reasons = Counter(d.reason for d in self._dropped)
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "the sources hold no frames"
        raise SourceError(f"no frame is usable for {dataset} ({detail}); nothing was written to {self.out}")

    def _write_splits(self, manifest: Manifest, assignment: dict[str, str], labelmap: LabelMap) -> dict[str, str]:
        """Fill the manifest's counts and frames per split and write the shards; return `{path: sha256}`."""
        assert self.staged is not None
        data_dir = self.staged / "data"
        data_dir.mkdir(exist_ok=True)
        outputs: dict[str, str] = self._stream.close() if self._stream is not None else {}
        for split_name in SPLITS:
            ids = sorted((f for f, s in assignment.items() if s == split_name), key=natural_key)
            if not ids:
                continue  # an empty split is omitted, not written as 0 rows
            manifest.counts[split_name] = self._counts(ids, labelmap)
            for fid in ids:
                manifest.frames[fid] = self._frame_entry(fid, split_name, labelmap)
            if self._stream is None:
                outputs.update(self._write_split(split_name, ids, labelmap, data_dir))
        self._stream = None
        for split_name, counts in manifest.counts.items():
            counts.num_bytes = split_num_bytes(sorted(data_dir.glob(f"{split_name}-*.parquet")))
        manifest.frames = dict(sorted(manifest.frames.items(), key=lambda kv: natural_key(kv[0])))
        return outputs

    def _frame_entry(self, fid: str, split_name: str, labelmap: LabelMap) -> dict[str, Any]:
        rec = self._frames[fid]
        return {"split": split_name, "activity": labelmap.activities[rec.activity], "group": rec.group, **rec.facts}

    def _write_card_and_manifest(self, manifest: Manifest, labelmap: LabelMap, outputs: dict[str, str]) -> None:
        """The card is hashed into `outputs`; the manifest's version is the hash of all outputs."""
        assert self.staged is not None
        readme = self.staged / "README.md"
        readme.write_text(render_card(manifest, labelmap), encoding="utf-8")
        outputs["README.md"] = sha256_file(readme)
        manifest.outputs = dict(sorted(outputs.items()))
        manifest.version = manifest.compute_version()
        (self.staged / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")

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

    def _write_split(self, split_name: str, ids: list[str], labelmap: LabelMap, data_dir: Path) -> dict[str, str]:
        assert self._spool is not None
        writer = ShardWriter(data_dir, split_name, build_features(labelmap).arrow_schema)
        for fid in ids:
            rec = self._frames[fid]
            row = {"image": self._spool.get(rec.image), "mask": self._spool.get(rec.mask), "activity": rec.activity}
            writer.append({**row, "frame_id": rec.frame_id, "group": rec.group, "source": rec.source})
        return writer.close()
