"""Server-free checks: annotation decoding rules and errors, disagreement scores, prediction folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lsframes import frame_arrays

from endods.labelstudio import LabelStudioError, frame_stem, label_config, load_predictions, review_order
from endods.labelstudio.disagreement import score_frame
from endods.labelstudio.importer import decode_annotation
from endods.labelstudio.rle import brush_result, choice_result, decode_region, mask_results
from schemas.labelmaps import MTLENDOVIS

LM = MTLENDOVIS


def test_label_config_lists_every_class_in_its_colour_and_every_activity() -> None:
    xml = label_config(LM)
    assert '<Label value="Bipolar Forceps" background="#00ff00"/>' in xml
    assert '<Label value="Suction Instrument" background="#7b0faf"/>' in xml
    assert 'background"' not in xml.replace('background="', "")  # no label named background
    assert xml.count("<Label ") == 7 and xml.count("<Choice ") == 12 and 'choice="single"' in xml


def test_mask_results_are_lossless_per_class() -> None:
    _, mask, _ = frame_arrays(2)
    results = mask_results(mask, LM)
    assert [r["value"]["brushlabels"] for r in results] == [[LM.classes[c].name] for c in (1, 3, 6)]
    for r, c in zip(results, (1, 3, 6), strict=True):
        assert np.array_equal(decode_region(r["value"]["rle"], *mask.shape), mask == c)


def test_later_region_wins_and_ignore_pixels_survive() -> None:
    _, base, _ = frame_arrays(0)
    a = np.zeros_like(base, dtype=bool)
    a[10:30, 10:30] = True
    b = np.zeros_like(a)
    b[20:40, 20:40] = True
    ann = {"result": [brush_result(a, "Bipolar Forceps"), brush_result(b, "Clip Applier"), choice_result("looping")]}
    mask, activity = decode_annotation(ann, base, 0, LM, "t")
    assert activity == LM.activities.index("looping")
    assert (mask[10:20, 10:30] == 1).all() and (mask[20:40, 20:40] == 7).all() and (mask[30:40, 10:20] == 0).all()
    assert (mask[0:4, 150:160] == 255).all() and int(np.count_nonzero(mask == 255)) == 40
    # no choice keeps the base activity
    assert decode_annotation({"result": []}, base, 3, LM, "t")[1] == 3


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (lambda m: brush_result(m, "Scalpel"), r"task 7 \(frame 'f'\): brush label \['Scalpel'\] is not exactly one"),
        (
            lambda m: brush_result(np.ones((10, 10), bool), "Bipolar Forceps"),
            r"brush region is 10x10, the frame is 128x160",
        ),
        (
            lambda m: {
                **brush_result(m, "Bipolar Forceps"),
                "original_width": 160,
                "original_height": 128,
                "value": {**brush_result(np.ones((8, 8), bool), "x")["value"], "brushlabels": ["Bipolar Forceps"]},
            },
            r"brush mask refused: RLE header claims 64 pixels, expected 128x160",
        ),
        (lambda m: choice_result("dancing"), r"unknown activity 'dancing'"),
        (
            lambda m: {"type": "rectanglelabels", "from_name": "box", "value": {}},
            r"unexpected result type 'rectanglelabels'",
        ),
    ],
)
def test_bad_annotations_name_task_frame_and_value(result, message: str) -> None:
    _, base, _ = frame_arrays(1)
    with pytest.raises(LabelStudioError, match=message):
        decode_annotation({"result": [result(base == 1)]}, base, 0, LM, "project 1 task 7 (frame 'f')")


def test_disagreement_scores_and_order_are_hand_derived() -> None:
    label = np.zeros((4, 10), np.uint8)
    label[:, :5] = 1  # 20 px of class 1
    same = score_frame("s/3", label, 2, label.copy(), 2, LM)
    half = label.copy()
    half[:, 3:5] = 0  # model keeps 12 of 20 px: IoU 0.6
    low = score_frame("s/2", label, 2, half, 2, LM)
    wrong = score_frame("s/10", label, 2, label.copy(), 4, LM)
    extra = label.copy()
    extra[0, 9] = 4  # class 4 only in the model: IoU 0
    ghost = score_frame("s/1", label, 2, extra, 2, LM)
    assert same.score == 0.0 and same.tag() == "model agrees"
    assert low.class_iou == {"Bipolar Forceps": 0.6} and low.score == 0.4
    assert wrong.score == 1.0 and wrong.tag() == "activity: label cutting, model idle"
    assert ghost.score == 1.0 and ghost.tag() == "low mask IoU: Monopolar Curved Scissors 0.00"
    tie = score_frame("s/4", label, 2, label.copy(), 2, LM)
    assert [d.frame_id for d in review_order([same, low, wrong, ghost, tie])] == ["s/1", "s/10", "s/2", "s/3", "s/4"]


def test_prediction_folder_reading_and_errors(tmp_path: Path) -> None:
    assert frame_stem("seq_3/frame042") == "seq_3__frame042"
    (tmp_path / "masks").mkdir()
    (tmp_path / "activities.csv").write_text("frame,activity,cauterization\nseq_1__frame000,clipping,0.1\n")
    preds = load_predictions(tmp_path, LM)
    assert preds["seq_1__frame000"].activity == 1
    assert preds["seq_1__frame000"].mask_path == tmp_path / "masks" / "seq_1__frame000.png"
    (tmp_path / "activities.csv").write_text("frame,activity\nseq_1/frame000,flying\n")
    with pytest.raises(LabelStudioError, match=r"activities.csv:2: unknown activity 'flying'"):
        load_predictions(tmp_path, LM)
    with pytest.raises(LabelStudioError, match=r"missing; --predictions must be"):
        load_predictions(tmp_path / "nope", LM)
