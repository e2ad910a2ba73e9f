"""The data contract shared by `endods` (dataset construction) and `endoarss` (model, training).

Kept free of heavy imports: `labelmaps` is pure Python; `records` imports `datasets` lazily;
`manifest` needs pydantic only.
"""

from schemas.labelmaps import (
    LABEL_MAPS,
    MTLENDOVIS,
    MTLENDOVIS_GEN,
    MTLESD,
    LabelMap,
    SegClass,
    get_labelmap,
)

__all__ = ["LABEL_MAPS", "MTLENDOVIS", "MTLENDOVIS_GEN", "MTLESD", "LabelMap", "SegClass", "get_labelmap"]
