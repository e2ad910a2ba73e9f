"""VQLA label grammar (docs/formats.md §2.3, §9.1): parsing, activity lines chosen by answer, the error rows of §5.5."""

from pathlib import Path

import pytest

from endods.errors import SourceError
from endods.sources.vqla import (
    ACTION_ANSWERS,
    TOOL_ANSWERS,
    VQLA_ANSWERS,
    frame_key,
    parse_vqla_text,
    read_vqla_label,
)

GOOD = (
    "what organ is being operated?|kidney|1,1,1280,1024\n"
    "\n"
    "what is the state of bipolar_forceps?|Idle|10, 20, 30, 40\r\n"
    "What is the state of Clip Applier?|Clipping|5,6,7,8\n"
    "where is bipolar_forceps located?|left-top|10,20,30,40\n"
)


def _write(tmp_path: Path, text: str, name: str = "frame003_QA.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_vocabulary_has_26_answers():
    assert len(VQLA_ANSWERS) == len(set(VQLA_ANSWERS)) == 26
    assert len(ACTION_ANSWERS) == 13 and "suction" in TOOL_ANSWERS and "Suction" in ACTION_ANSWERS


def test_extended_file_activity_lines_are_the_action_answers(tmp_path):
    text = GOOD + (
        "what tool is at left-top?|bipolar_forceps|10,20,30,40\n"
        "what tool is at right-top?|suction|1,2,3,4\n"
        "what is the state of suction?|Suction|1,2,3,4\n"
        "which is the tool?|stapler|1,2,3,4\n"
    )
    label = read_vqla_label(_write(tmp_path, text))
    assert label.states == ("Idle", "Clipping", "Suction")


def test_wrong_case_suction_is_the_tool_never_the_activity(tmp_path):
    """`suction` as a state answer where `Suction` is meant counts as the tool (docs/formats.md §9.1)."""
    text = "what is the state of suction_instrument?|suction|1,2,3,4\n"
    assert read_vqla_label(_write(tmp_path, text)).states == ()
    both = text + "what is the state of bipolar_forceps?|Idle|1,2,3,4\n"
    assert read_vqla_label(_write(tmp_path, both)).states == ("Idle",)


@pytest.mark.parametrize("answer", ["SUCTION", "Bipolar_Forceps", "Suction_Instrument", "idle"])
def test_answer_outside_the_26_names_file_line_and_answer(tmp_path, answer):
    path = _write(tmp_path, f"what organ is being operated?|kidney|1,1,2,2\nwhat is the state of x?|{answer}|1,2,3,4\n")
    with pytest.raises(SourceError) as info:
        read_vqla_label(path)
    message = str(info.value)
    assert str(path) in message and "line 2" in message and repr(answer) in message


def test_parse_good_file(tmp_path):
    label = read_vqla_label(_write(tmp_path, GOOD))
    assert [q.line_no for q in label.lines] == [1, 3, 4, 5]
    assert label.lines[1].bbox == (10, 20, 30, 40)
    assert label.states == ("Idle", "Clipping")


def test_file_without_state_question_has_no_states(tmp_path):
    text = "what organ is being operated?|kidney|1,1,2,2\nwhere is stapler located?|right-bottom|1,1,2,2\n"
    assert read_vqla_label(_write(tmp_path, text)).states == ()


def test_frame_key():
    assert frame_key(Path("frame012_QA.txt")) == "frame012"
    assert frame_key(Path("Frame7.txt")) == "frame7"
    assert frame_key(Path("seq1_frame012.txt")) is None


@pytest.mark.parametrize(
    ("line", "line_no"),
    [
        ("what is the state of bipolar_forceps?|Idle", 2),
        ("what is the state of bipolar_forceps?|Idle|1,2,3", 2),
        ("what is the state of bipolar_forceps?|Idle|1,2,3,x", 2),
        ("a|Idle|1,2,3,4|extra", 2),
    ],
)
def test_bad_line_names_file_line_number_and_line(tmp_path, line, line_no):
    path = _write(tmp_path, "what organ is being operated?|kidney|1,1,2,2\n" + line + "\n")
    with pytest.raises(SourceError) as info:
        read_vqla_label(path)
    message = str(info.value)
    assert str(path) in message
    assert f"line {line_no}" in message
    assert line in message


def test_unknown_answer_names_file_and_answer(tmp_path):
    path = _write(tmp_path, "what is the state of stapler?|Sleeping|1,2,3,4\n")
    with pytest.raises(SourceError) as info:
        read_vqla_label(path)
    assert str(path) in str(info.value)
    assert "'Sleeping'" in str(info.value)


def test_state_question_with_a_location_answer_is_read_and_ignored(tmp_path):
    """Only the answer decides an activity line (docs/formats.md §9.1); a non-action answer in the 26 is ignored."""
    path = _write(tmp_path, "what is the state of stapler?|left-top|1,2,3,4\n")
    label = read_vqla_label(path)
    assert label.states == () and [q.answer for q in label.lines] == ["left-top"]


def test_parse_text_uses_path_only_for_messages():
    with pytest.raises(SourceError, match="nowhere.txt"):
        parse_vqla_text("q|kidneys|1,1,1,1", Path("nowhere.txt"))
