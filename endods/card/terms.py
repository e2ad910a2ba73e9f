"""Where a built dataset's data come from, under which terms, and what to cite.

Shared by the card (licence section, BibTeX) and `endods.hub` (refusing public uploads of
EndoVis-derived data without an explicit statement of rights), so both say the same thing.
"""

from __future__ import annotations

from typing import Literal

from schemas.manifest import Manifest

DatasetKind = Literal["endovis18", "endovis17", "esd", "other"]

ENDOVIS18_SOURCES = frozenset({"endovis18", "isinet18", "vqla18"})
ENDOVIS17_SOURCES = frozenset({"endovis17", "vqla17"})
ENDOVIS_DATASETS = frozenset({"mtlendovis", "mtlendovis-gen"})

ENDOVIS_TERMS = (
    "The EndoVis 2017 and 2018 challenge data (MICCAI Endoscopic Vision sub-challenges) are distributed by "
    "the challenge organisers under their own terms: access requires registration, use is limited to "
    "non-commercial research, and the data may not be redistributed without the organisers' permission. "
    "The ISINet instrument-type annotations and the EndoVis-VQLA labels are derived from these images and "
    "carry their own terms (see their repositories). Every frame and mask of this dataset is derived from "
    "that data."
)

ESD_TERMS = (
    "MTLESD is built from private endoscopic submucosal dissection (ESD) recordings; the paper's data are "
    "not public. Whoever builds and shares this dataset is responsible for ethics approval, patient consent, "
    "de-identification and the data owner's permission. Keep the repository private unless all of these "
    "allow otherwise."
)

OTHER_TERMS = (
    "This dataset was imported from an existing EndoARSS folder layout; its images and masks remain under "
    "the terms of the data they were made from. Check those terms before sharing it."
)


def dataset_kind(manifest: Manifest) -> DatasetKind:
    """Which data a dataset was made from, judged by its name and its recorded sources."""
    sources = set(manifest.sources)
    if manifest.dataset == "mtlendovis" or sources & ENDOVIS18_SOURCES:
        return "endovis18"
    if manifest.dataset == "mtlendovis-gen" or sources & ENDOVIS17_SOURCES:
        return "endovis17"
    if manifest.dataset == "mtlesd" or "esd" in sources:
        return "esd"
    return "other"


def terms_for(kind: DatasetKind) -> str:
    return {"endovis18": ENDOVIS_TERMS, "endovis17": ENDOVIS_TERMS, "esd": ESD_TERMS}.get(kind, OTHER_TERMS)


BIBTEX: dict[str, str] = {
    "endoarss": """@article{wang2025endoarss,
  title   = {{EndoARSS}: Adapting Spatially-Aware Foundation Model for Efficient Activity Recognition and Semantic Segmentation in Endoscopic Surgery},
  author  = {Wang, Guankun and Tang, Rui and Xu, Mengya and Bai, Long and Gao, Huxin and Ren, Hongliang},
  journal = {arXiv preprint arXiv:2506.06830},
  year    = {2025}
}""",
    "endovis18": """@article{allan2020endovis18,
  title   = {2018 Robotic Scene Segmentation Challenge},
  author  = {Allan, Max and Kondo, Satoshi and Bodenstedt, Sebastian and Leger, Stefan and Kadkhodamohammadi, Rahim and Luengo, Imanol and Fuentes, Felix and Flouty, Evangello and Mohammed, Ahmed and Pedersen, Marius and others},
  journal = {arXiv preprint arXiv:2001.11190},
  year    = {2020}
}""",
    "endovis17": """@article{allan2019endovis17,
  title   = {2017 Robotic Instrument Segmentation Challenge},
  author  = {Allan, Max and Shvets, Alex and Kurmann, Thomas and Zhang, Zichen and Duggal, Rahul and Su, Yun-Hsuan and Rieke, Nicola and Laina, Iro and Kalavakonda, Niveditha and Bodenstedt, Sebastian and others},
  journal = {arXiv preprint arXiv:1902.06426},
  year    = {2019}
}""",
    "isinet": """@inproceedings{gonzalez2020isinet,
  title     = {{ISINet}: An Instance-Based Approach for Surgical Instrument Segmentation},
  author    = {Gonz{\\'a}lez, Cristina and Bravo-S{\\'a}nchez, Laura and Arbel{\\'a}ez, Pablo},
  booktitle = {Medical Image Computing and Computer Assisted Intervention -- MICCAI 2020},
  year      = {2020}
}""",
    "surgical_vqla": """@inproceedings{bai2023surgicalvqla,
  title     = {{Surgical-VQLA}: Transformer with Gated Vision-Language Embedding for Visual Question Localized-Answering in Robotic Surgery},
  author    = {Bai, Long and Islam, Mobarakol and Seenivasan, Lalithkumar and Ren, Hongliang},
  booktitle = {IEEE International Conference on Robotics and Automation (ICRA)},
  year      = {2023}
}""",
}

_CITATIONS: dict[DatasetKind, tuple[str, ...]] = {
    "endovis18": ("endoarss", "endovis18", "isinet", "surgical_vqla"),
    "endovis17": ("endoarss", "endovis17", "surgical_vqla"),
    "esd": ("endoarss",),
    "other": ("endoarss",),
}


def citations_for(kind: DatasetKind) -> list[str]:
    """BibTeX entries to cite: the EndoARSS paper, then each source dataset the data came from."""
    return [BIBTEX[key] for key in _CITATIONS[kind]]
