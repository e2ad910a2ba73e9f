"""Wording helpers."""

from endods.text import plural


def test_plural() -> None:
    assert plural(1, "frame") == "1 frame"
    assert plural(0, "frame") == "0 frames"
    assert plural(2, "problem") == "2 problems"
    assert plural(3, "matrix", "matrices") == "3 matrices"
    assert plural(1, "matrix", "matrices") == "1 matrix"
