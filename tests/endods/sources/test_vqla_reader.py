"""VQLA label grammar (FORMATS.md §2.3): parsing, state extraction and the two error rows of §5.5."""

from pathlib import Path

import pytest

from endods.errors import SourceError
from endods.sources.vqla import VQLA_ANSWERS, frame_key, parse_vqla_text, read_vqla_label

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


def test_vocabulary_has_18_answers():
    assert len(VQLA_ANSWERS) == len(set(VQLA_ANSWERS)) == 18


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


def test_state_question_with_a_location_answer_is_an_error(tmp_path):
    path = _write(tmp_path, "what is the state of stapler?|left-top|1,2,3,4\n")
    with pytest.raises(SourceError, match="left-top"):
        read_vqla_label(path)


def test_parse_text_uses_path_only_for_messages():
    with pytest.raises(SourceError, match="nowhere.txt"):
        parse_vqla_text("q|kidneys|1,1,1,1", Path("nowhere.txt"))
