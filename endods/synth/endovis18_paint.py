"""Painting of one synthetic EndoVis18 frame: image, part labels, type and instance masks, VQLA lines.

The scenarios cover every branch of policy P1 (docs/formats.md §5); `endods.synth.endovis18` writes
the painted frames in the release layouts.
"""

from __future__ import annotations

import cv2
import numpy as np

from endods.synth.common import (
    CLASPER,
    CLASS_COLORS,
    SHAFT,
    WRIST,
    bbox_1based,
    gray_shade,
    paint_state_effect,
    paint_tool,
    quadrant,
    tissue,
    tool_pose,
)

WIDTH, HEIGHT = 1280, 1024
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
_LABEL_COLOR = dict(PART_LABELS)
_PART_COLOR = {
    part: _LABEL_COLOR[f"instrument-{part_name}"]
    for part, part_name in ((SHAFT, "shaft"), (WRIST, "wrist"), (CLASPER, "clasper"))
}
# probe / suction are labelled as one colour
_WHOLE_TOOL_COLOR = {5: _LABEL_COLOR["ultrasound-probe"], 6: _LABEL_COLOR["suction-instrument"]}


def paint_frame(rng: np.random.Generator, scenario: tuple) -> dict:
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
