"""The build manifest (`manifest.json`), one model with fixed keys (docs/architecture.md, "`manifest.json`")."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


class ToolInfo(BaseModel):
    name: str = "endods"
    version: str


class SplitCounts(BaseModel):
    frames: int = 0
    activities: dict[str, int] = Field(default_factory=dict)
    class_pixels: dict[str, int] = Field(default_factory=dict)
    # uncompressed size of the split's Parquet row groups: the card's `dataset_info.splits[].num_bytes`
    num_bytes: int = 0


class Dropped(BaseModel):
    frame_id: str
    reason: str
    path: str


class SourceDigest(BaseModel):
    files: int
    digest: str


class ChangedFrame(BaseModel):
    frame_id: str
    mask_pixels_changed: int
    activity_before: str
    activity_after: str
    model_accepted: bool = False  # the submitted labels equal the model's prediction; False: drawn by the reviewer


class Parent(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str
    labelstudio: dict[str, Any] | None = None
    changed: list[ChangedFrame] = Field(default_factory=list)


class Manifest(BaseModel):
    """Everything about a build except `provenance` is a pure function of sources, options and seed."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    dataset: str
    version: str = ""
    tool: ToolInfo
    options: dict[str, Any]
    label_maps: dict[str, Any]
    counts: dict[str, SplitCounts]
    frames: dict[str, dict[str, Any]]
    dropped: list[Dropped] = Field(default_factory=list)
    sources: dict[str, SourceDigest] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    parent: Parent | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    def compute_version(self) -> str:
        """First 12 hex digits of sha256 over the sorted `outputs` entries."""
        h = hashlib.sha256()
        for path in sorted(self.outputs):
            h.update(f"{path}\t{self.outputs[path]}\n".encode())
        return h.hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"

    def without_provenance(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data.pop("provenance", None)
        return data

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = Path(folder) / MANIFEST_NAME
        return cls.model_validate_json(path.read_text())
