"""Open one split of a built dataset (docs/architecture.md "Built dataset") for the model side.

A local folder is read through :mod:`schemas.dataset` (the manifest via the pydantic ``Manifest``, the
split's shards in their natural order); a Hub dataset id through ``datasets``. Images stay undecoded
PNG bytes in the Arrow table: workers decode them (``endoarss.data.frames``) or read the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from endoarss.data.frames import DataError
from endoarss.data.source import is_local
from schemas.dataset import DatasetError, parquet_files, read_manifest
from schemas.labelmaps import LabelMap
from schemas.manifest import MANIFEST_NAME, Manifest


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
