"""Reader for Surgical-VQLA label files (EndoVis-18/17-VQLA, FORMATS.md §2.3, §3.2).

One text file per frame, one `question|answer|bbox` line per question. Activities come from the
state questions (`what is the state of <tool>?`); organ and location questions are kept only so
that a damaged line anywhere in the file is reported, as the original loader would fail on it.
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
# The loader's `self.labels`: the 18 answers a VQLA file may contain.
VQLA_ANSWERS = ORGAN_ANSWERS + ACTION_ANSWERS + LOCATION_ANSWERS

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
        return tuple(q for q in self.lines if STATE_QUESTION.match(q.question))

    @property
    def states(self) -> tuple[str, ...]:
        """Raw answers of the state questions, in file order (input of `endods.fuse`)."""
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
    `question|answer|bbox` with 4 integers, and naming the file and answer for an answer outside
    the 18-word vocabulary or a state question answered with a non-action.
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
                f"{path}: line {line_no}: answer {answer!r} is not in the VQLA vocabulary {list(VQLA_ANSWERS)}"
            )
        if STATE_QUESTION.match(question) and answer not in ACTION_ANSWERS:
            raise SourceError(
                f"{path}: line {line_no}: state question {question!r} has answer {answer!r}, "
                f"which is not an action {list(ACTION_ANSWERS)}"
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
