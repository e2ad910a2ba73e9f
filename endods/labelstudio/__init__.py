"""Label Studio review round trip: export a split with predictions, import reviewed labels as a new version.

`export_to_labelstudio` and `import_from_labelstudio` are the API; `cli/labelstudio.py` wraps them.
"""

from endods.labelstudio.client import LabelStudioError
from endods.labelstudio.config import label_config
from endods.labelstudio.disagreement import Disagreement, review_order, score_frame
from endods.labelstudio.export import ExportResult, export_to_labelstudio
from endods.labelstudio.importer import import_from_labelstudio
from endods.labelstudio.predictions import frame_stem, load_predictions

__all__ = [
    "Disagreement",
    "ExportResult",
    "LabelStudioError",
    "export_to_labelstudio",
    "frame_stem",
    "import_from_labelstudio",
    "label_config",
    "load_predictions",
    "review_order",
    "score_frame",
]
