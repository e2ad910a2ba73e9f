"""Synthetic EndoVis17 + EndoVis-17-VQLA source ROOT in the real layouts (docs/formats.md §3, §9).

`synth_endovis17(DEST)` writes `DEST/endovis17/instrument_1_4_training/instrument_dataset_K/` (and
`instrument_5_8_training/` for K >= 5: 1920×1080 frames, one ground-truth folder per instrument
with part codes 10/20/30) and `DEST/EndoVis-17-VQA_extended_final/` (Extended labels in
`vqla/Classification`, JPEG copies of the 1280×1024 crops at (320, 28)); `layout="original"` writes
`DEST/endovis17/instrument_dataset_K/` and `DEST/EndoVis-17-VQLA/` (PNG crops, `vqla/label`). Either
way `endods build mtlendovis-gen --src DEST` runs without the licensed data. Tools enter from the
frame edges, so cropping changes the counts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from endods.errors import EndodsError
from endods.sources.vqla import TOOL_ANSWERS
from endods.synth.common import (
    CLASS_COLORS,
    SynthReport,
    bbox_1based,
    gray_shade,
    paint_state_effect,
    paint_tool,
    png_bytes,
    quadrant,
    tissue,
    tool_pose,
)
from endods.synth.tree import TreeWriter, staged_tree

WIDTH, HEIGHT = 1920, 1080
CROP = (320, 28, 1280, 1024)  # x0, y0, w, h (docs/formats.md §3.1)
LAYOUTS = ("real", "original")
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95]
# ground-truth folder -> (2017 type id, MTLEndovis class id, VQLA tool name)
FOLDERS = {
    "Bipolar_Forceps_labels": (1, 1, "bipolar_forceps"),
    "Maryland_Bipolar_Forceps_labels": (1, 1, "bipolar_forceps"),
    "Left_Prograsp_Forceps_labels": (2, 2, "prograsp_forceps"),
    "Left_Large_Needle_Driver_labels": (3, 3, "large_needle_driver"),
    "Right_Large_Needle_Driver_labels": (3, 3, "large_needle_driver"),
    "Vessel_Sealer_labels": (4, 0, "vessel_sealer"),
    "Grasping_Retractor_labels": (5, 0, "grasping_retractor"),
    "Monopolar_Curved_Scissors_labels": (6, 4, "monopolar_curved_scissors"),
    "Other_labels": (7, 5, "ultrasound_probe"),
}
# Per dataset (cycled): folders in sorted order, and frame scenarios (expected P1 activity, one
# entry per folder: a state answer, "-Answer" for a tool asked about but out of view, None for no tool).
DATASETS: tuple[tuple[tuple[str, ...], tuple[tuple[str, tuple[str | None, ...]], ...]], ...] = (
    (
        ("Left_Prograsp_Forceps_labels", "Maryland_Bipolar_Forceps_labels", "Other_labels"),
        (
            ("ultrasound_sensing", ("Retraction", "Idle", "Ultrasound_Sensing")),
            ("cauterization", ("Tissue_Manipulation", "Cauterization", None)),
            ("grasping", ("Grasping", "Idle", None)),
            ("idle", ("-Idle", None, None)),
        ),
    ),
    (
        ("Monopolar_Curved_Scissors_labels", "Right_Large_Needle_Driver_labels", "Vessel_Sealer_labels"),
        (
            ("cutting", ("Cutting", "Grasping", "Cauterization")),
            ("suturing", (None, "Suturing", "Idle")),
            ("manipulation", ("Tool_Manipulation", "Idle", None)),
            ("cauterization", (None, "Idle", "Cauterization")),
        ),
    ),
    (
        ("Bipolar_Forceps_labels", "Grasping_Retractor_labels", "Vessel_Sealer_labels"),
        (
            ("retraction", ("Grasping", "Retraction", "Idle")),
            ("cauterization", ("Idle", None, "Cauterization")),
        ),
    ),
    (
        ("Left_Large_Needle_Driver_labels", "Right_Large_Needle_Driver_labels"),
        (("suturing", ("Suturing", "Grasping")), ("looping", ("Looping", "Idle"))),
    ),
)


def _frame(rng: np.random.Generator, folders: tuple[str, ...], answers: tuple[str | None, ...]) -> dict:
    """Paint one frame; return the image, per-folder part masks, the 2017 type mask and QA lines."""
    image = tissue(rng, HEIGHT, WIDTH)
    shade = gray_shade(rng, HEIGHT, WIDTH)
    types = np.zeros((HEIGHT, WIDTH), np.uint8)
    parts: dict[str, np.ndarray] = {}
    x0, y0, w, h = CROP
    lines = [f"what organ is being operated?|kidney|1,1,{w},{h}"]
    locations, tools = [], []
    edges = rng.permutation(4)  # each tool from its own side of the frame
    poses = [tool_pose(rng, HEIGHT, WIDTH, edge=int(edges[k % 4])) for k in range(len(folders))]
    for answer, (_canvas, front) in zip(answers, poses, strict=True):
        if answer is not None and not answer.startswith("-"):  # tissue marks first, under every tool
            paint_state_effect(image, rng, front, answer)
    for folder, answer, (canvas, _front) in zip(folders, answers, poses, strict=True):
        visible = answer is not None and not answer.startswith("-")
        parts[folder] = (canvas * 10) if visible else np.zeros_like(canvas)
        if answer is None:
            continue
        type_id, class_id, tool = FOLDERS[folder]
        box = None
        if visible:
            paint_tool(image, canvas, shade, CLASS_COLORS.get(class_id))
            types[canvas > 0] = type_id
            box = bbox_1based(canvas[y0 : y0 + h, x0 : x0 + w] > 0)
        lines.append(f"what is the state of {tool}?|{answer.lstrip('-')}|{','.join(map(str, box or (1, 1, w, h)))}")
        if box is not None:
            locations.append(f"where is {tool} located?|{quadrant(box, w, h)}|{','.join(map(str, box))}")
            if tool in TOOL_ANSWERS:  # Extended-set tool line (docs/formats.md §9.1)
                tools.append(f"what tool is at {quadrant(box, w, h)}?|{tool}|{','.join(map(str, box))}")
    return {"image": image, "parts": parts, "types": types, "qa": lines + locations, "tool_qa": tools}


def _dataset_dir(k: int, real: bool) -> str:
    """Where instrument_dataset_K unpacks: inside its archive's folder in the real layout (§9.3)."""
    archive = "instrument_1_4_training/" if k <= 4 else "instrument_5_8_training/"
    return f"endovis17/{archive if real else ''}instrument_dataset_{k}"


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), JPEG_PARAMS)
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def synth_endovis17(
    dest: Path,
    sequences: int = 2,
    frames: int = 8,
    seed: int = 0,
    damaged: bool = False,
    overwrite: bool = False,
    layout: str = "real",
    on_progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Write a synthetic MTLEndovis-Gen source ROOT under `dest`; return what a correct build must yield.

    `class_pixels` are MTLEndovis ids counted in the 1280×1024 crop after assembling the ground
    truth in sorted folder order (later wins); `unmapped_instrument_pixels` counts Vessel_Sealer /
    Grasping_Retractor pixels in the crop (background in MTLEndovis). Planned drops (`frames >= 4`):
    in instrument_dataset_1 the last frame has no VQLA file (`no_vqla_label`), the one before no state
    question (`no_activity`). With `damaged` (`frames >= 2`), the second dataset's frame000 has no
    EndoVis17 left frame (`no_image`) and frame001 no ground-truth file in any folder (`no_mask`).
    `layout` "real" writes the layouts of docs/formats.md §9, "original" the older ones.
    """
    if not 1 <= sequences <= 8 or frames < 1 or layout not in LAYOUTS:
        raise EndodsError(
            f"synth endovis17: sequences must be 1..8, frames >= 1 and layout one of {list(LAYOUTS)}, "
            f"got sequences={sequences}, frames={frames}, layout={layout!r}"
        )
    real = layout == "real"
    vqla, label_dir = (
        ("EndoVis-17-VQA_extended_final", "vqla/Classification") if real else ("EndoVis-17-VQLA", "vqla/label")
    )
    dest = Path(dest)
    rng = np.random.default_rng(seed)
    report = SynthReport("endovis17", dest)
    with staged_tree(dest, ("endovis17", vqla), overwrite) as out:
        for k in range(1, sequences + 1):
            folders, scenarios = DATASETS[(k - 1) % len(DATASETS)]
            offset = int(rng.integers(len(scenarios)))
            for f in range(frames):
                name = f"frame{f:03d}"
                frame_id = f"instrument_dataset_{k}/{name}"
                activity, answers = scenarios[(f + offset) % len(scenarios)]
                if on_progress is not None:
                    on_progress((k - 1) * frames + f, sequences * frames)  # frames started
                drop = _planned_drop(k, f, frames, damaged, sequences)
                p = _frame(rng, folders, answers)
                _write_frame(out, k, name, p, folders, drop, (vqla, label_dir, real))
                if drop is not None:
                    report.dropped[frame_id] = drop
                    continue
                report.frames[frame_id] = _expected(activity, answers, k, p["types"])
        report.files = out.files
    if on_progress is not None:
        on_progress(sequences * frames, sequences * frames)
    return report


def _planned_drop(k: int, f: int, frames: int, damaged: bool, sequences: int) -> str | None:
    """The drop reason a correct build must give this frame (see `synth_endovis17`), or None."""
    if k == 1 and frames >= 4 and f == frames - 1:
        return "no_vqla_label"
    if k == 1 and frames >= 4 and f == frames - 2:
        return "no_activity"
    if damaged and k == min(2, sequences) and frames >= 2 and f in (0, 1):
        return "no_image" if f == 0 else "no_mask"
    return None


def _write_frame(
    out: TreeWriter, k: int, name: str, p: dict, folders: tuple[str, ...], drop: str | None, vqla_at: tuple
) -> None:
    """Write one painted frame into the EndoVis17 and VQLA trees, leaving out what `drop` lacks.

    `vqla_at`: (VQLA root folder, label folder inside it, real layout?).
    """
    vqla, label_dir, real = vqla_at
    stem = f"seq{k}_{name}"
    dataset_dir = _dataset_dir(k, real)
    if drop != "no_image":
        out.write(f"{dataset_dir}/left_frames/{name}.png", png_bytes(p["image"]))
    if drop != "no_mask":
        for folder in folders:
            out.write(f"{dataset_dir}/ground_truth/{folder}/{name}.png", png_bytes(p["parts"][folder]))
    qa = p["qa"] + (p["tool_qa"] if real else [])
    if drop == "no_activity":
        qa = [line for line in qa if not line.startswith("what is the state of")]
    if drop != "no_vqla_label":
        out.write(f"{vqla}/{label_dir}/{stem}.txt", "\n".join(qa) + "\n")
        if drop != "no_image":
            x0, y0, w, h = CROP
            crop = np.ascontiguousarray(p["image"][y0 : y0 + h, x0 : x0 + w])
            copy = _jpeg_bytes(crop) if real else png_bytes(crop)
            out.write(f"{vqla}/left_frames/{stem}.{'jpg' if real else 'png'}", copy)


def _expected(activity: str, answers: tuple, k: int, full_types: np.ndarray) -> dict:
    """What a correct build must record for a kept frame (counted in the 1280x1024 crop)."""
    x0, y0, w, h = CROP
    types = full_types[y0 : y0 + h, x0 : x0 + w]
    return {
        "activity": activity,
        "group": f"instrument_dataset_{k}",
        "class_pixels": np.bincount(_TO_CLASS[types].ravel(), minlength=8).tolist(),
        "states": [a.lstrip("-") for a in answers if a is not None],
        "unmapped_instrument_pixels": int(np.isin(types, (4, 5)).sum()),
    }


def _type_to_class() -> np.ndarray:
    """LUT from EndoVis17 instrument type ids to MTLEndovis class ids."""
    to_class = np.zeros(256, np.uint8)
    for type_id, class_id, _tool in FOLDERS.values():
        to_class[type_id] = class_id
    return to_class


_TO_CLASS = _type_to_class()
