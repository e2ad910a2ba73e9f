"""The dataset card (README.md of a built dataset): Hub/`datasets` YAML metadata + human text.

The card is a pure function of the manifest (no paths, no command lines, no timestamps), so it is
byte-identical across identical builds and can be hashed into the dataset version. The writer calls
`render_card` after the Parquet shards exist and before README.md is hashed; `endods.hub` re-renders
it to detect a card edited after the build.
"""

from __future__ import annotations

import yaml

from endods.card.metadata import card_metadata, features_yaml, present_splits
from endods.card.sections import (
    build_section,
    counts_section,
    labelmap_section,
    review_section,
    structure,
    summary,
    usage_section,
)
from endods.card.terms import citations_for, dataset_kind, terms_for
from schemas.labelmaps import LabelMap
from schemas.manifest import Manifest

__all__ = ["card_metadata", "features_yaml", "present_splits", "render_card"]


def _terms_section(manifest: Manifest) -> list[str]:
    kind = dataset_kind(manifest)
    publish = "`endods publish` keeps a repository private unless asked otherwise"
    if kind in ("endovis18", "endovis17"):
        publish += (
            ", and refuses a public upload of this EndoVis-derived data unless the uploader states they have "
            "the organisers' permission"
        )
    return [
        "## Licence and terms",
        "",
        terms_for(kind),
        "",
        "The metadata says `license: other` because the images and masks are not the toolkit's to license; "
        f"the Apache-2.0 licence of the endods toolkit covers its code only. {publish}.",
    ]


def _citation_section(manifest: Manifest) -> list[str]:
    entries = citations_for(dataset_kind(manifest))
    return [
        "## Citation",
        "",
        "Cite the EndoARSS paper and every source dataset this dataset was made from:",
        "",
        "```bibtex",
        "\n\n".join(entries),
        "```",
    ]


def render_card(manifest: Manifest, labelmap: LabelMap) -> str:
    """README.md text for a built dataset: YAML front matter, then the human-readable card."""
    meta = yaml.safe_dump(card_metadata(manifest, labelmap), sort_keys=False, allow_unicode=True, width=4096)
    kind = dataset_kind(manifest)
    sections = [
        summary(manifest, labelmap, kind),
        structure(labelmap),
        build_section(manifest, labelmap, kind),
        counts_section(manifest, labelmap),
        labelmap_section(labelmap),
        usage_section(manifest, labelmap),
        review_section(manifest),
        _terms_section(manifest),
        _citation_section(manifest),
    ]
    body = "\n\n".join("\n".join(lines) for lines in sections if lines)
    return f"---\n{meta}---\n\n{body}\n"
