"""Open a built dataset folder without the `datasets` cache: manifest + streaming Parquet records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from endods.errors import DatasetError
from endods.split import natural_key
from schemas.labelmaps import LabelMap
from schemas.manifest import MANIFEST_NAME, Manifest
from schemas.records import SPLITS


@dataclass(frozen=True)
class Record:
    frame_id: str
    group: str
    source: str
    activity: int
    image: bytes
    mask: bytes


class BuiltDataset:
    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.labelmap = LabelMap.from_dict(manifest.dataset, manifest.label_maps)

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if self.parquet_files(s)]

    def parquet_files(self, split: str) -> list[Path]:
        return sorted((self.path / "data").glob(f"{split}-*.parquet"), key=lambda p: natural_key(p.name))

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
                pf = pq.ParquetFile(path)
                for batch in pf.iter_batches(batch_size=batch_size):
                    cols = batch.to_pydict()
                    for i in range(batch.num_rows):
                        frame_id = cols["frame_id"][i]
                        yield Record(
                            frame_id=frame_id,
                            group=cols["group"][i],
                            source=cols["source"][i],
                            activity=int(cols["activity"][i]),
                            image=_embedded(path, frame_id, "image", cols["image"][i]),
                            mask=_embedded(path, frame_id, "mask", cols["mask"][i]),
                        )
            except (OSError, KeyError, pa.ArrowException) as exc:
                raise DatasetError(f"{path}: cannot read Parquet records ({exc})") from exc


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


def open_dataset(path: Path) -> BuiltDataset:
    """Open OUT; DatasetError naming the path when it is not a built dataset."""
    path = Path(path)
    manifest_path = path / MANIFEST_NAME
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder (expected a dataset built by `endods build`)")
    if not manifest_path.is_file():
        raise DatasetError(f"{manifest_path}: missing; {path} is not a dataset built by `endods build`")
    try:
        manifest = Manifest.model_validate_json(manifest_path.read_text())
    except (ValidationError, ValueError) as exc:
        raise DatasetError(f"{manifest_path}: not a valid manifest ({exc})") from exc
    return BuiltDataset(path, manifest)
