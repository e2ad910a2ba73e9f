"""The one reader of a built dataset folder (docs/architecture.md "Built dataset"), without torch.

A built dataset is ``manifest.json`` (read through the pydantic :class:`schemas.manifest.Manifest`) and
``data/{split}-*.parquet`` per split of :data:`schemas.records.SPLITS` (records streamed with pyarrow,
shards in natural order). Both sides read it through here: ``endods`` (validate, report, export, Label
Studio, publish) and ``endoarss.data`` (manifest, shard list, hash check before training or eval).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from schemas.errors import DatasetError
from schemas.hashing import sha256_file
from schemas.labelmaps import LabelMap
from schemas.manifest import MANIFEST_NAME, Manifest
from schemas.records import SPLITS, natural_key

__all__ = ["BuiltDataset", "DatasetError", "Record", "changed_outputs", "check_outputs_unchanged", "open_dataset"]


@dataclass(frozen=True)
class Record:
    frame_id: str
    group: str
    source: str
    activity: int
    image: bytes
    mask: bytes


def parquet_files(root: Path, split: str) -> list[Path]:
    """The shards of ``split`` under ``root/data``, in natural order (``-2`` before ``-10``)."""
    return sorted((Path(root) / "data").glob(f"{split}-*.parquet"), key=lambda p: natural_key(p.name))


class BuiltDataset:
    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.labelmap = LabelMap.from_dict(manifest.dataset, manifest.label_maps)

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if self.parquet_files(s)]

    def parquet_files(self, split: str) -> list[Path]:
        return parquet_files(self.path, split)

    def num_rows(self, split: str) -> int:
        total = 0
        for path in self.parquet_files(split):
            try:
                total += pq.ParquetFile(path).metadata.num_rows
            except (OSError, pa.ArrowException) as exc:  # truncated or not Parquet at all
                raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from exc
        return total

    def records(self, split: str, batch_size: int = 16) -> Iterator[Record]:
        files = self.parquet_files(split)
        if not files:
            raise DatasetError(f"{self.path}: no Parquet files for split {split!r} (have: {self.splits})")
        for path in files:
            try:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
                    yield from _batch_records(path, batch.to_pydict(), batch.num_rows)
            except (OSError, KeyError, pa.ArrowException) as exc:
                raise DatasetError(f"{path}: cannot read Parquet records ({exc})") from exc


def _batch_records(path: Path, cols: dict, rows: int) -> Iterator[Record]:
    for i in range(rows):
        frame_id = cols["frame_id"][i]
        yield Record(
            frame_id=frame_id,
            group=cols["group"][i],
            source=cols["source"][i],
            activity=int(cols["activity"][i]),
            image=_embedded(path, frame_id, "image", cols["image"][i]),
            mask=_embedded(path, frame_id, "mask", cols["mask"][i]),
        )


def _embedded(path: Path, frame_id: str, column: str, cell: dict | None) -> bytes:
    """The bytes of an Image cell; a `path` cell (a file outside the dataset) breaks the contract.

    Reading the named file would read anything on this machine the dataset points at
    (docs/formats.md §5: images and masks are embedded PNG bytes).
    """
    data = cell.get("bytes") if isinstance(cell, dict) else None
    if not isinstance(data, bytes) or (isinstance(cell, dict) and cell.get("path")):
        where = cell.get("path") if isinstance(cell, dict) else cell
        raise DatasetError(
            f"{path}: frame {frame_id}: {column} is not embedded bytes (path {where!r}); a built dataset "
            "embeds every image and mask, and files it names are never read: rebuild the dataset"
        )
    return data


def read_manifest(path: Path) -> Manifest:
    """The validated manifest of the dataset folder ``path``; DatasetError naming the file otherwise."""
    path = Path(path)
    manifest_path = path / MANIFEST_NAME
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder (expected a dataset built by `endods build`)")
    if not manifest_path.is_file():
        raise DatasetError(f"{path}: no manifest.json; is this a dataset built by `endods build`?")
    try:
        return Manifest.model_validate_json(manifest_path.read_text())
    except (ValidationError, ValueError) as exc:
        raise DatasetError(f"{manifest_path}: not a valid manifest ({exc})") from exc


def open_dataset(path: Path) -> BuiltDataset:
    """Open OUT; DatasetError naming the path when it is not a built dataset."""
    return BuiltDataset(Path(path), read_manifest(path))


def changed_outputs(root: Path, outputs: dict[str, str]) -> list[tuple[str, str]]:
    """(file, what is wrong) for every manifest output missing or changed, and every unlisted shard."""
    problems = []
    for rel, digest in outputs.items():
        path = root / rel
        if not path.is_file():
            problems.append((rel, "listed in manifest outputs but missing"))
        elif sha256_file(path) != digest:
            problems.append((rel, "sha256 differs from manifest outputs (file changed after the build)"))
    for path in sorted((root / "data").glob("*.parquet")):
        if path.relative_to(root).as_posix() not in outputs:
            problems.append((path.relative_to(root).as_posix(), "Parquet file not listed in manifest outputs"))
    return problems


def check_outputs_unchanged(out: Path) -> None:
    """Raise DatasetError when a file listed in the manifest is missing or changed since the build.

    Hashing the outputs is cheap next to decoding every frame, so commands that copy a dataset
    elsewhere (export) and the model side (before training, eval or predict) run this instead of the
    full validation.
    """
    ds = open_dataset(out)
    problems = changed_outputs(ds.path, ds.manifest.outputs)
    if problems:
        listing = "; ".join(f"{file}: {message}" for file, message in problems[:5])
        raise DatasetError(f"{out} changed after it was built ({listing}); check it with `endods validate {out}`")
