"""The dataset card (README.md of a built dataset): Hub/`datasets` YAML metadata + human text.

The card is a pure function of the manifest (no paths, no command lines, no timestamps), so it is
byte-identical across identical builds and can be hashed into the dataset version.
"""

from __future__ import annotations

import yaml

from schemas.labelmaps import LabelMap
from schemas.manifest import Manifest


def card_metadata(manifest: Manifest, labelmap: LabelMap) -> dict:
    splits = [s for s in ("train", "test") if s in manifest.counts]
    return {
        "pretty_name": labelmap.pretty_name or manifest.dataset,
        "license": "other",
        "task_categories": ["image-segmentation", "image-classification"],
        "tags": ["medical", "surgery", "endoscopy", "multi-task", "endoarss"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits],
            }
        ],
        "dataset_info": {
            "features": [
                {"name": "image", "dtype": "image"},
                {"name": "mask", "dtype": "image"},
                {
                    "name": "activity",
                    "dtype": {"class_label": {"names": {i: n for i, n in enumerate(labelmap.activities)}}},
                },
                {"name": "frame_id", "dtype": "string"},
                {"name": "group", "dtype": "string"},
                {"name": "source", "dtype": "string"},
            ],
        },
    }


def render_card(manifest: Manifest, labelmap: LabelMap) -> str:
    meta = yaml.safe_dump(card_metadata(manifest, labelmap), sort_keys=False, allow_unicode=True)
    lines = [f"---\n{meta}---", f"# {labelmap.pretty_name or manifest.dataset}", ""]
    lines += ["| split | frames |", "|---|---|"]
    lines += [f"| {s} | {c.frames} |" for s, c in manifest.counts.items()]
    lines += ["", "## Segmentation classes", "", "| id | name | colour |", "|---|---|---|"]
    lines += [f"| {c.id} | {c.name} | rgb{c.color} |" for c in labelmap.classes]
    return "\n".join(lines) + "\n"
