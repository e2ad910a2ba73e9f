"""Synthetic EndoVis18 + ISINet + EndoVis-18-VQLA source ROOT in the real layouts (docs/formats.md §2, §9).

`synth_endovis18(DEST)` writes `DEST/endovis18/` (the real release folder names), `DEST/isinet18/`
(organised masks + `labels_2017.json`, 2018 or 2017-compatible ids) and
`DEST/EndoVis-18-VQA_extended/` (Extended labels in `seq_N/vqa/Classification`, tool answers
included); `layout="original"` writes the older `DEST/EndoVis-18-VQLA/seq_N/vqla/label` form. Either
way `endods build mtlendovis --src DEST` runs without the licensed data. Frames cycle through
scenarios that exercise every branch of policy P1, and a few frames are written so that a correct
build must drop them (docs/formats.md §5.5); the returned report is the truth to compare a build with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from endods.errors import EndodsError
from endods.synth.common import SynthReport, png_bytes
from endods.synth.endovis18_paint import PART_LABELS, SCENARIOS, paint_frame
from endods.synth.tree import TreeWriter, staged_tree

__all__ = ["SCENARIOS", "release_folder", "synth_endovis18"]

# Real sequence numbers (no seq_8) and their release folders (ISINet organize2018 `data_folders`).
SEQUENCES = (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16)
VAL_SEQUENCES = frozenset({2, 5, 9, 15})
NO_VQLA_SEQUENCES = frozenset({13})  # EndoVis-18-VQLA has no seq_13: all its frames are `no_vqla_label`

# The ids the organised masks carry, per ISINet table (docs/formats.md §9.5): 2018 ids = MTLEndovis ids.
ISINET_TABLES = {
    "2018": (
        "Bipolar Forceps",
        "Prograsp Forceps",
        "Large Needle Driver",
        "Monopolar Curved Scissors",
        "Ultrasound Probe",
        "Suction Instrument",
        "Clip Applier",
    ),
    "2017": (
        "Bipolar Forceps",
        "Prograsp Forceps",
        "Large Needle Driver",
        "Vessel Sealer",
        "Grasping Retractor",
        "Monopolar Curved Scissors",
        "Ultrasound Probe",
        "Suction Instrument",
        "Clip Applier",
    ),
}
LAYOUTS = ("real", "original")


def release_folder(seq: int) -> str:
    """Release folder of a sequence, named as the archives unpack (ISINet organize2018 `data_folders`)."""
    release = 1 if seq <= 4 else 2 if seq <= 7 else 3 if seq <= 12 else 4
    return "miccai_challenge_2018_release_1" if release == 1 else f"miccai_challenge_release_{release}"


def _isinet_ids(ids: str) -> np.ndarray:
    """LUT from MTLEndovis (= ISINet 2018) ids to the ids of the chosen ISINet table."""
    names = ISINET_TABLES[ids]
    lut = np.zeros(256, np.uint8)
    for mtl_id, name in enumerate(ISINET_TABLES["2018"], start=1):
        lut[mtl_id] = names.index(name) + 1
    return lut


def synth_endovis18(
    dest: Path,
    sequences: int = 3,
    frames: int = 8,
    seed: int = 0,
    damaged: bool = False,
    overwrite: bool = False,
    ids: str = "2018",
    layout: str = "real",
    on_progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Write a synthetic MTLEndovis source ROOT under `dest`; return what a correct build must yield.

    Planned drops (need `frames >= 4`): in the first sequence the last frame has no VQLA file
    (`no_vqla_label`) and the one before has no state question (`no_activity`); a seq_13 (when
    `sequences >= 12`) has no VQLA labels at all, as in the real data. With `damaged` (`frames >= 2`), the second
    sequence's frame000 has no image anywhere (`no_image`) and frame001 no type mask (`no_mask`).

    `ids` picks the ISINet table the masks carry ("2018" or the 2017-compatible "2017"; the report
    always counts MTLEndovis ids); `layout` "real" writes the layouts of docs/formats.md §9,
    "original" the older EndoVis-18-VQLA form (18 answers, no tool lines, no label table for 2018 ids).
    """
    _check_arguments(sequences, frames, ids, layout)
    dest = Path(dest)
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(len(SCENARIOS)))
    report = SynthReport("endovis18", dest)
    seqs = SEQUENCES[:sequences]
    real = layout == "real"
    vqla, label_dir = ("EndoVis-18-VQA_extended", "vqa/Classification") if real else ("EndoVis-18-VQLA", "vqla/label")
    to_ids = _isinet_ids(ids)
    with staged_tree(dest, ("endovis18", "isinet18", vqla), overwrite) as out:
        if real or ids != "2018":
            table = [{"name": n, "classid": i} for i, n in enumerate(ISINET_TABLES[ids], start=1)]
            out.write_json("isinet18/labels_2017.json", table)
        counter = 0
        for s_index, seq in enumerate(seqs):
            release = release_folder(seq)
            out.write_json(
                f"endovis18/{release}/seq_{seq}/labels.json",
                [{"name": n, "color": list(c), "classid": i} for i, (n, c) in enumerate(PART_LABELS)],
            )
            place = _Place(seq, release, "val" if seq in VAL_SEQUENCES else "train", vqla, label_dir, real)
            for f in range(frames):
                activity, scenario = SCENARIOS[(counter + offset) % len(SCENARIOS)]
                counter += 1
                if on_progress is not None:
                    on_progress(counter - 1, len(seqs) * frames)  # frames started; the last call is at the end
                drop = _planned_drop(seq, s_index, f, frames, damaged, len(seqs))
                painted = paint_frame(rng, scenario)
                _write_frame(out, place, f"frame{f:03d}", painted, drop, to_ids)
                frame_id = f"seq_{seq}/frame{f:03d}"
                if drop is not None:
                    report.dropped[frame_id] = drop
                    continue
                report.frames[frame_id] = _expected(activity, scenario, seq, painted)
        report.files = out.files
    if on_progress is not None:
        on_progress(len(seqs) * frames, len(seqs) * frames)
    return report


def _check_arguments(sequences: int, frames: int, ids: str, layout: str) -> None:
    if ids not in ISINET_TABLES or layout not in LAYOUTS:
        raise EndodsError(
            f"synth endovis18: ids must be one of {list(ISINET_TABLES)} and layout one of "
            f"{list(LAYOUTS)}, got ids={ids!r}, layout={layout!r}"
        )
    if not 1 <= sequences <= len(SEQUENCES) or frames < 1:
        raise EndodsError(
            f"synth endovis18: sequences must be 1..{len(SEQUENCES)} and frames >= 1, "
            f"got sequences={sequences}, frames={frames}"
        )


@dataclass(frozen=True)
class _Place:
    """Where one sequence's files go in the three source trees."""

    seq: int
    release: str  # EndoVis18 release folder
    split: str  # ISINet organised split: train or val
    vqla: str  # VQLA root folder
    label_dir: str  # VQLA label folder inside seq_N
    real: bool  # the real (Extended) layout: tool answers included


def _planned_drop(seq: int, s_index: int, f: int, frames: int, damaged: bool, n_seqs: int) -> str | None:
    """The drop reason a correct build must give this frame (see `synth_endovis18`), or None."""
    if seq in NO_VQLA_SEQUENCES or (s_index == 0 and frames >= 4 and f == frames - 1):
        return "no_vqla_label"
    if s_index == 0 and frames >= 4 and f == frames - 2:
        return "no_activity"
    if damaged and s_index == min(1, n_seqs - 1) and frames >= 2 and f in (0, 1):
        return "no_image" if f == 0 else "no_mask"
    return None


def _write_frame(out: TreeWriter, at: _Place, name: str, p: dict, drop: str | None, to_ids: np.ndarray) -> None:
    """Write one painted frame into the EndoVis18, ISINet and VQLA trees, leaving out what `drop` lacks."""
    seq, stem = at.seq, f"seq{at.seq}_{name}"
    image_png = png_bytes(p["image"])
    if drop != "no_image":
        out.write(f"endovis18/{at.release}/seq_{seq}/left_frames/{name}.png", image_png)
        out.write(f"isinet18/{at.split}/images/{stem}.png", image_png)
    out.write(f"endovis18/{at.release}/seq_{seq}/labels/{name}.png", png_bytes(p["labels"]))
    if drop != "no_mask":
        out.write(f"isinet18/{at.split}/annotations/{stem}.png", png_bytes(to_ids[p["types"]]))
        for k, (_tool, class_id) in enumerate(p["drawn"], start=1):
            if class_id is not None:
                inst = np.where(p["instances"] == k, 255, 0).astype(np.uint8)
                out.write(
                    f"isinet18/{at.split}/binary_annotations/{stem}_class{to_ids[class_id]}_inst{k}.png",
                    png_bytes(inst),
                )
    qa = p["qa"] + (p["tool_qa"] if at.real else [])
    if drop == "no_activity":
        qa = [line for line in qa if not line.startswith("what is the state of")]
    if drop != "no_vqla_label":
        out.write(f"{at.vqla}/seq_{seq}/{at.label_dir}/{name}_QA.txt", "\n".join(qa) + "\n")
        if drop != "no_image":
            out.write(f"{at.vqla}/seq_{seq}/left_frames/{name}.png", image_png)


def _expected(activity: str, scenario: tuple, seq: int, painted: dict) -> dict:
    """What a correct build must record for a kept frame."""
    return {
        "activity": activity,
        "group": f"seq_{seq}",
        "class_pixels": np.bincount(painted["types"].ravel(), minlength=8).tolist(),
        "states": [answer for _tool, answer, _v in scenario],
    }
