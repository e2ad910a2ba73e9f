"""Reader for Surgical-VQLA label files (EndoVis-18/17-VQLA and their Extended sets, docs/formats.md §2.3, §9.1).

One text file per frame, one `question|answer|bbox` line per question. A line is an activity line
iff its answer is one of the 13 action answers, compared case-sensitively (the Extended sets add a
tool answer `suction` that differs from the action `Suction` only by case, and the wording of the
questions answered by tools is not published). Other lines are kept only so that a damaged line
anywhere in the file is reported, as the original loader would fail on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from endods.errors import SourceError

ORGAN_ANSWERS = ("kidney",)
ACTION_ANSWERS = (
    "Idle",
    "Grasping",
    "Retraction",
    "Tissue_Manipulation",
    "Tool_Manipulation",
    "Cutting",
    "Cauterization",
    "Suction",
    "Looping",
    "Suturing",
    "Clipping",
    "Staple",
    "Ultrasound_Sensing",
)
LOCATION_ANSWERS = ("left-top", "right-top", "left-bottom", "right-bottom")
# The 8 tool answers of the Extended sets; `suction` is the tool, `Suction` the action.
TOOL_ANSWERS = (
    "bipolar_forceps",
    "monopolar_curved_scissors",
    "prograsp_forceps",
    "large_needle_driver",
    "ultrasound_probe",
    "clip_applier",
    "suction",
    "stapler",
)
# The loader's `self.labels`: the 26 answers a VQLA(-Extended) file may contain (the original
# sets use the first 18).
VQLA_ANSWERS = ORGAN_ANSWERS + ACTION_ANSWERS + LOCATION_ANSWERS + TOOL_ANSWERS

STATE_QUESTION = re.compile(r"^what is the state of (.+)\?$", re.IGNORECASE)
FRAME_KEY = re.compile(r"^(frame\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class QALine:
    """One parsed line; `line_no` is 1-based in the file."""

    line_no: int
    question: str
    answer: str
    bbox: tuple[int, int, int, int]


@dataclass(frozen=True)
class VqlaLabel:
    path: Path
    lines: tuple[QALine, ...]

    @property
    def state_lines(self) -> tuple[QALine, ...]:
        """Activity lines: those answered with one of the 13 actions (exact case), whatever the question."""
        return tuple(q for q in self.lines if q.answer in ACTION_ANSWERS)

    @property
    def states(self) -> tuple[str, ...]:
        """Action answers of the frame, in file order (input of `endods.fuse`)."""
        return tuple(q.answer for q in self.state_lines)


def frame_key(path: Path) -> str | None:
    """`frame012` for `frame012_QA.txt` (the loader keys on the part before the first `_`)."""
    match = FRAME_KEY.match(path.name)
    return match.group(1).lower() if match else None


def _parse_bbox(text: str) -> tuple[int, int, int, int] | None:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 4:
        return None
    try:
        x1, y1, x2, y2 = (int(p) for p in parts)
    except ValueError:
        return None
    return x1, y1, x2, y2


def parse_vqla_text(text: str, path: Path) -> VqlaLabel:
    """Parse a label file's text; `path` only names the file in errors.

    Raises SourceError naming the file, line number and line for a line that is not
    `question|answer|bbox` with 4 integers, and naming the file, line number and answer for an
    answer outside the 26-word vocabulary (case-sensitive).
    """
    lines: list[QALine] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split("|")
        bbox = _parse_bbox(parts[2]) if len(parts) == 3 else None
        if bbox is None:
            raise SourceError(f"{path}: line {line_no} is not 'question|answer|x1,y1,x2,y2' with 4 integers: {raw!r}")
        question, answer = parts[0].strip(), parts[1].strip()
        if answer not in VQLA_ANSWERS:
            raise SourceError(
                f"{path}: line {line_no}: answer {answer!r} is not in the 26-answer VQLA vocabulary "
                f"(answers are case-sensitive) {list(VQLA_ANSWERS)}; correct the label file"
            )
        lines.append(QALine(line_no, question, answer, bbox))
    return VqlaLabel(path, tuple(lines))


def read_vqla_label(path: Path) -> VqlaLabel:
    """Read and parse one label file (UTF-8, BOM tolerated)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read VQLA label file: {exc}") from None
    return parse_vqla_text(text, path)
