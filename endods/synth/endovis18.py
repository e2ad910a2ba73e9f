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
from pathlib import Path

import cv2
import numpy as np

from endods.errors import EndodsError
from endods.synth.common import (
    CLASPER,
    CLASS_COLORS,
    SHAFT,
    WRIST,
    SynthReport,
    bbox_1based,
    gray_shade,
    paint_state_effect,
    paint_tool,
    png_bytes,
    quadrant,
    staged_tree,
    tissue,
    tool_pose,
)

WIDTH, HEIGHT = 1280, 1024
# Real sequence numbers (no seq_8) and their release folders (ISINet organize2018 `data_folders`).
SEQUENCES = (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16)
VAL_SEQUENCES = frozenset({2, 5, 9, 15})
NO_VQLA_SEQUENCES = frozenset({13})  # EndoVis-18-VQLA has no seq_13: all its frames are `no_vqla_label`

# The ids the organised masks carry, per ISINet table (docs/formats.md §9.5): 2018 ids = MTLEndovis ids.
ISINET_TABLES = {
    "2018": (
        "Bipolar Forceps", "Prograsp Forceps", "Large Needle Driver", "Monopolar Curved Scissors",
        "Ultrasound Probe", "Suction Instrument", "Clip Applier",
    ),
    "2017": (
        "Bipolar Forceps", "Prograsp Forceps", "Large Needle Driver", "Vessel Sealer", "Grasping Retractor",
        "Monopolar Curved Scissors", "Ultrasound Probe", "Suction Instrument", "Clip Applier",
    ),
}  # fmt: skip
LAYOUTS = ("real", "original")
# Extended-set tool answer of each tool (docs/formats.md §9.1): the suction tool is `suction`, the
# action `Suction`.
TOOL_ANSWERS = {"suction_instrument": "suction"}

# VQLA tool name -> ISINet class id (None: a tool without a segmentation class).
TOOLS = {
    "bipolar_forceps": 1,
    "prograsp_forceps": 2,
    "large_needle_driver": 3,
    "monopolar_curved_scissors": 4,
    "ultrasound_probe": 5,
    "suction_instrument": 6,
    "clip_applier": 7,
    "stapler": None,
}

# (expected P1 activity, [(tool, state answer, visible)]): covers all 12 activities and P1 branches.
SCENARIOS: tuple[tuple[str, tuple[tuple[str, str, bool], ...]], ...] = (
    (
        "clipping",
        (
            ("clip_applier", "Clipping", True),
            ("prograsp_forceps", "Tissue_Manipulation", True),
            ("bipolar_forceps", "Idle", True),
        ),
    ),
    ("cutting", (("bipolar_forceps", "Cauterization", True), ("monopolar_curved_scissors", "Cutting", True))),
    ("stapling", (("stapler", "Staple", True), ("prograsp_forceps", "Retraction", True))),
    ("suturing", (("large_needle_driver", "Suturing", True), ("prograsp_forceps", "Grasping", True))),
    ("cauterization", (("bipolar_forceps", "Cauterization", True), ("prograsp_forceps", "Tool_Manipulation", True))),
    ("ultrasound_sensing", (("ultrasound_probe", "Ultrasound_Sensing", True), ("bipolar_forceps", "Idle", True))),
    ("suction", (("suction_instrument", "Suction", True),)),
    ("looping", (("large_needle_driver", "Looping", True), ("bipolar_forceps", "Idle", True))),
    ("retraction", (("prograsp_forceps", "Retraction", True), ("bipolar_forceps", "Grasping", True))),
    ("grasping", (("bipolar_forceps", "Grasping", True),)),
    ("manipulation", (("prograsp_forceps", "Tissue_Manipulation", True), ("bipolar_forceps", "Idle", True))),
    # the suction tool idle: its tool answer `suction` must not make this a suction frame
    ("idle", (("bipolar_forceps", "Idle", True), ("suction_instrument", "Idle", True))),
    ("idle", (("bipolar_forceps", "Idle", False),)),  # tool out of view: no instrument pixels
)

# EndoVis18 `labels.json` (docs/formats.md §2.1).
PART_LABELS = (
    ("background-tissue", (0, 0, 0)),
    ("instrument-shaft", (0, 255, 0)),
    ("instrument-clasper", (0, 255, 255)),
    ("instrument-wrist", (125, 255, 12)),
    ("kidney-parenchyma", (255, 55, 0)),
    ("covered-kidney", (24, 55, 125)),
    ("thread", (187, 155, 25)),
    ("clamps", (0, 255, 125)),
    ("suturing-needle", (255, 255, 125)),
    ("suction-instrument", (123, 15, 175)),
    ("small-intestine", (124, 155, 5)),
    ("ultrasound-probe", (12, 255, 141)),
)
_PART_COLOR = {SHAFT: (0, 255, 0), WRIST: (125, 255, 12), CLASPER: (0, 255, 255)}
_WHOLE_TOOL_COLOR = {5: (12, 255, 141), 6: (123, 15, 175)}  # probe / suction are labelled as one colour


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


def _frame(rng: np.random.Generator, scenario: tuple) -> dict:
    """Paint one frame: RGB image, colour part labels, class-id mask, per-instance masks, QA lines."""
    image = tissue(rng, HEIGHT, WIDTH)
    labels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    kidney = np.zeros((HEIGHT, WIDTH), np.uint8)
    centre = (int(rng.integers(300, 980)), int(rng.integers(300, 720)))
    axes = (int(rng.integers(180, 320)), int(rng.integers(120, 240)))
    cv2.ellipse(kidney, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    labels[kidney > 0] = PART_LABELS[4][1]
    image[kidney > 0] = (image[kidney > 0] * np.array([0.95, 0.7, 0.7])).astype(np.uint8)
    types = np.zeros((HEIGHT, WIDTH), np.uint8)
    instances = np.zeros((HEIGHT, WIDTH), np.uint8)
    shade = gray_shade(rng, HEIGHT, WIDTH)
    edges = rng.permutation(4)  # each tool from its own side of the frame
    poses = [tool_pose(rng, HEIGHT, WIDTH, edge=int(edges[k % 4])) for k in range(len(scenario))]
    for (_tool, answer, visible), (_canvas, front) in zip(scenario, poses, strict=True):
        if visible:  # tissue marks first: every tool lies on top of them
            paint_state_effect(image, rng, front, answer)
    drawn: list[tuple[str, int | None]] = []
    for (tool, _answer, visible), (canvas, _front) in zip(scenario, poses, strict=True):
        if not visible:
            continue
        class_id = TOOLS[tool]
        paint_tool(image, canvas, shade, CLASS_COLORS.get(class_id or 0))
        sel = canvas > 0
        # a tool without a segmentation class (stapler) is background in the type mask
        types[sel] = class_id or 0
        instances[sel] = 0 if class_id is None else len(drawn) + 1
        for code, color in _PART_COLOR.items():
            labels[canvas == code] = _WHOLE_TOOL_COLOR.get(class_id or 0, color)
        drawn.append((tool, class_id))
    lines = [f"what organ is being operated?|kidney|{','.join(map(str, bbox_1based(kidney > 0)))}"]
    for tool, answer, _visible in scenario:
        lines.append(f"what is the state of {tool}?|{answer}|{','.join(map(str, _tool_box(tool, drawn, instances)))}")
    tools = []
    for k, (tool, _class_id) in enumerate(drawn, start=1):
        box = bbox_1based(instances == k) if _class_id is not None else None
        if box is not None:
            where = quadrant(box, WIDTH, HEIGHT)
            lines.append(f"where is {tool} located?|{where}|{','.join(map(str, box))}")
            tools.append(f"what tool is at {where}?|{TOOL_ANSWERS.get(tool, tool)}|{','.join(map(str, box))}")
    return {
        "image": image,
        "labels": labels,
        "types": types,
        "instances": instances,
        "drawn": drawn,
        "qa": lines,
        "tool_qa": tools,
    }


def _tool_box(tool: str, drawn: list, instances: np.ndarray) -> tuple[int, int, int, int]:
    for k, (name, class_id) in enumerate(drawn, start=1):
        if name == tool and class_id is not None:
            box = bbox_1based(instances == k)
            if box is not None:
                return box
    return (1, 1, WIDTH, HEIGHT)


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
            split = "val" if seq in VAL_SEQUENCES else "train"
            for f in range(frames):
                name = f"frame{f:03d}"
                frame_id, stem = f"seq_{seq}/{name}", f"seq{seq}_{name}"
                activity, scenario = SCENARIOS[(counter + offset) % len(SCENARIOS)]
                counter += 1
                if on_progress is not None:
                    on_progress(counter - 1, len(seqs) * frames)  # frames started; the last call is at the end
                drop = None
                if seq in NO_VQLA_SEQUENCES or (s_index == 0 and frames >= 4 and f == frames - 1):
                    drop = "no_vqla_label"
                elif s_index == 0 and frames >= 4 and f == frames - 2:
                    drop = "no_activity"
                elif damaged and s_index == min(1, len(seqs) - 1) and frames >= 2 and f in (0, 1):
                    drop = "no_image" if f == 0 else "no_mask"
                p = _frame(rng, scenario)
                image_png = png_bytes(p["image"])
                if drop != "no_image":
                    out.write(f"endovis18/{release}/seq_{seq}/left_frames/{name}.png", image_png)
                    out.write(f"isinet18/{split}/images/{stem}.png", image_png)
                out.write(f"endovis18/{release}/seq_{seq}/labels/{name}.png", png_bytes(p["labels"]))
                if drop != "no_mask":
                    out.write(f"isinet18/{split}/annotations/{stem}.png", png_bytes(to_ids[p["types"]]))
                    for k, (_tool, class_id) in enumerate(p["drawn"], start=1):
                        if class_id is not None:
                            inst = np.where(p["instances"] == k, 255, 0).astype(np.uint8)
                            out.write(
                                f"isinet18/{split}/binary_annotations/{stem}_class{to_ids[class_id]}_inst{k}.png",
                                png_bytes(inst),
                            )
                qa = p["qa"] + (p["tool_qa"] if real else [])
                if drop == "no_activity":
                    qa = [line for line in qa if not line.startswith("what is the state of")]
                if drop != "no_vqla_label":
                    out.write(f"{vqla}/seq_{seq}/{label_dir}/{name}_QA.txt", "\n".join(qa) + "\n")
                    if drop != "no_image":
                        out.write(f"{vqla}/seq_{seq}/left_frames/{name}.png", image_png)
                if drop is not None:
                    report.dropped[frame_id] = drop
                    continue
                report.frames[frame_id] = {
                    "activity": activity,
                    "group": f"seq_{seq}",
                    "class_pixels": np.bincount(p["types"].ravel(), minlength=8).tolist(),
                    "states": [answer for _tool, answer, _v in scenario],
                }
        report.files = out.files
    if on_progress is not None:
        on_progress(len(seqs) * frames, len(seqs) * frames)
    return report
