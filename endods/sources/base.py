"""What a source reader yields: one frame's paths and parsed labels, no pixels decoded yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Drop reasons that mean damaged or incomplete source files (`--strict` fails on them, docs/formats.md §5.5).
DAMAGE_REASONS = ("no_image", "no_mask", "unreadable_image", "frame_out_of_range")


@dataclass(frozen=True)
class MaskPart:
    """One binary ground-truth mask painted as `class_id` where the mask is > 0 (EndoVis17).

    `class_id` is the MTLEndovis id (0 for instrument types outside the label space, whose
    pixels are counted as `unmapped_instrument_pixels`); `source_type` is the original 2017 id.
    """

    path: Path
    class_id: int
    source_type: int


@dataclass(frozen=True)
class IdTable:
    """How the ids of a class-id mask map to MTLEndovis ids (ISINet `labels_2017.json`, docs/formats.md §9.5).

    `lut[v]` is the MTLEndovis id of mask value v, or -1 when the table has no id v (an error
    naming `path`); values in `unmapped` are instruments outside the MTLEndovis classes, written as
    background and counted as `unmapped_instrument_pixels`.
    """

    path: Path
    lut: tuple[int, ...]
    unmapped: frozenset[int] = frozenset()

    @property
    def is_identity(self) -> bool:
        return not self.unmapped and all(v in (i, -1) for i, v in enumerate(self.lut))


@dataclass(frozen=True)
class SourceFrame:
    """A frame as found on disk. Exactly one of `mask_path` / `mask_parts` describes the mask.

    - `mask_path`: a single-channel class-id PNG (ISINet organised `annotations/`), its ids
      mapped through `id_table` when the source carries its own id table.
    - `mask_parts`: binary masks painted in order (later wins), then cropped with `crop`; `crop`
      also applies to the image (EndoVis17 frames are full-size).
    - `states`: raw VQLA answers of the frame's state questions, in file order.
    - `drop`: (reason, path) when the reader already knows the frame cannot be built.
    """

    frame_id: str
    group: str
    source: str
    image_path: Path | None = None
    mask_path: Path | None = None
    mask_parts: tuple[MaskPart, ...] = ()
    crop: tuple[int, int, int, int] | None = None
    label_path: Path | None = None
    states: tuple[str, ...] = ()
    drop: tuple[str, Path] | None = None
    facts: dict = field(default_factory=dict)
    id_table: IdTable | None = None
