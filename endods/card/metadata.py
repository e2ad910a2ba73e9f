"""YAML front matter of the dataset card: what the Hub viewer and `datasets.load_dataset` read.

Written by hand (not via `datasets` private helpers) so the card stays a pure, version-stable
function of the manifest; tests compare it with the Parquet schema to keep both in sync.
"""

from __future__ import annotations

from typing import Any

from endods.card.terms import DatasetKind, dataset_kind
from schemas.labelmaps import LABEL_MAPS, LabelMap
from schemas.manifest import Manifest
from schemas.records import SPLITS

# The Hub's size_categories buckets (upper bounds, exclusive).
_SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)

_LICENSES: dict[DatasetKind, dict[str, str]] = {
    "endovis18": {
        "license_name": "endovis-challenge-terms",
        "license_link": "https://endovissub2018-roboticscenesegmentation.grand-challenge.org/",
    },
    "endovis17": {
        "license_name": "endovis-challenge-terms",
        "license_link": "https://endovissub2017-roboticinstrumentsegmentation.grand-challenge.org/",
    },
    # Private clinical data: the terms are the section of this card (README.md in the repo).
    "esd": {"license_name": "private-clinical-data", "license_link": "README.md"},
    "other": {"license_name": "see-source-terms", "license_link": "README.md"},
}

_KIND_TAGS: dict[DatasetKind, list[str]] = {
    "endovis18": ["endovis", "robotic-surgery", "instrument-segmentation"],
    "endovis17": ["endovis", "robotic-surgery", "instrument-segmentation"],
    "esd": ["endoscopic-submucosal-dissection", "gastroenterology"],
    "other": [],
}


def display_name(manifest: Manifest, labelmap: LabelMap) -> str:
    """Pretty name from the dataset id (not the caller's LabelMap), so re-rendering from the manifest
    alone gives the same card: `endods publish` relies on that to detect an edited card."""
    known = LABEL_MAPS.get(manifest.dataset)
    return known.pretty_name if known and known.pretty_name else manifest.dataset


def present_splits(manifest: Manifest) -> list[str]:
    """Splits with frames, in train/test order (an empty split is never written)."""
    return [s for s in SPLITS if s in manifest.counts and manifest.counts[s].frames > 0]


def size_category(frames: int) -> str:
    for bound, label in _SIZE_BUCKETS:
        if frames < bound:
            return label
    return "n>10M"


def features_yaml(labelmap: LabelMap) -> list[dict[str, Any]]:
    """`dataset_info.features` in the Hub's YAML form (ClassLabel names keyed by string ids)."""
    return [
        {"name": "image", "dtype": "image"},
        {"name": "mask", "dtype": "image"},
        {
            "name": "activity",
            "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(labelmap.activities)}}},
        },
        {"name": "frame_id", "dtype": "string"},
        {"name": "group", "dtype": "string"},
        {"name": "source", "dtype": "string"},
    ]


def card_metadata(manifest: Manifest, labelmap: LabelMap) -> dict[str, Any]:
    """The card's YAML metadata as a plain dict (key order is the order written)."""
    splits = present_splits(manifest)
    kind = dataset_kind(manifest)
    total = sum(manifest.counts[s].frames for s in splits)
    return {
        "pretty_name": display_name(manifest, labelmap),
        "license": "other",
        **_LICENSES[kind],
        "task_categories": ["image-segmentation", "image-classification"],
        "task_ids": ["semantic-segmentation", "multi-class-image-classification"],
        "tags": ["medical", "surgery", "endoscopy", "multi-task", "activity-recognition", "endoarss"]
        + _KIND_TAGS[kind],
        "size_categories": [size_category(total)],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits],
            }
        ],
        "dataset_info": {
            "features": features_yaml(labelmap),
            "splits": [
                {"name": s, "num_bytes": manifest.counts[s].num_bytes, "num_examples": manifest.counts[s].frames}
                for s in splits
            ],
        },
    }
