"""Issue 16 cases 12 and 13: imported Label Studio results are untrusted input (server-free)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from lsframes import frame_arrays

from endods.labelstudio import LabelStudioError
from endods.labelstudio.importer import decode_annotation
from endods.labelstudio.rle import RleSizeError, brush_result, choice_result, decode_region
from schemas.labelmaps import MTLENDOVIS

LM = MTLENDOVIS
WHERE = "project 1 task 7 (frame 'f')"


def _brush(mask: np.ndarray, **value) -> dict:
    res = brush_result(mask == 1, "Bipolar Forceps")
    res["value"] = {**res["value"], **value}
    return res


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: _brush(m, rle="AAAA"), "brush mask refused: RLE must be a list of byte values, got str"),
        (
            lambda m: {**_brush(m), "value": {"brushlabels": ["Bipolar Forceps"]}},
            "RLE must be a list of byte values, got NoneType",
        ),
        (lambda m: {**_brush(m), "value": [1, 2]}, "malformed result"),
        (lambda m: "brushlabels", "malformed result 'brushlabels'"),
        (lambda m: _brush(m, rle=[0, 0, 1, "x"]), "RLE must be a list of byte values"),
        (lambda m: _brush(m, rle=[300, 0, 0, 0]), "is not a valid encoding"),
        (lambda m: {**choice_result("looping"), "value": {"choices": "looping"}}, "expected one activity choice"),
        (lambda m: {**choice_result("looping"), "value": {"choices": [["looping"]]}}, "expected one activity choice"),
    ],
)
def test_case12_malformed_results_are_clear_errors(make, message: str) -> None:
    """Case 12: rle as a string or missing, value as a list, result as a string: LabelStudioError, no traceback."""
    _, base, _ = frame_arrays(1)
    with pytest.raises(LabelStudioError, match=message) as info:
        decode_annotation({"result": [make(base)]}, base, 0, LM, WHERE)
    assert WHERE in str(info.value)


def test_case12_result_that_is_not_a_list() -> None:
    _, base, _ = frame_arrays(1)
    with pytest.raises(LabelStudioError, match="annotation result must be a list, got str"):
        decode_annotation({"result": "oops"}, base, 0, LM, WHERE)


def test_case13_rle_claiming_1e9_values_is_refused_before_allocating() -> None:
    """Case 13: a header claiming 10^9 values (256 KB of JSON) is refused from its header, with no big allocation."""
    claim = (10**9).to_bytes(4, "big")
    rle = [*claim, *([0] * (256 * 1024))]
    tracemalloc.start()
    try:
        with pytest.raises(RleSizeError, match="is not a valid encoding|header claims 250000000 pixels"):
            decode_region(rle, 128, 160)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak  # the codec would have taken ~1 GB


def test_case13_header_must_match_the_frame_even_when_short() -> None:
    claim = (2**32 - 1).to_bytes(4, "big")
    with pytest.raises(RleSizeError, match=r"header claims 1073741823 pixels, expected 128x160=20480"):
        decode_region([*claim, 0, 0, 0, 0], 128, 160)
    good = brush_result(np.ones((128, 160), bool), "Bipolar Forceps")["value"]["rle"]
    assert decode_region(good, 128, 160).all()  # a genuine RLE still decodes
