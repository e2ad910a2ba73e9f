"""docs/formats.md §5.5 bad input through the real CLI: one readable message, exit 1, no partial output."""

from __future__ import annotations

import json
import shutil

import numpy as np
from typer.testing import CliRunner

from cli.main import app
from endods.pngio import encode_png

runner = CliRunner()


def _build(src, out, *extra):
    return runner.invoke(app, ["build", "mtlendovis", "--src", str(src), "--out", str(out), *extra])


def _frame_files(root, seq=2, frame="frame001"):
    e18 = next(root.glob(f"endovis18/*/seq_{seq}/left_frames/{frame}.png"))
    mask = next(root.glob(f"isinet18/*/annotations/seq{seq}_{frame}.png"))
    return e18, mask


def _assert_error(result, *needles, out=None):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]


def test_success_summary_and_validate(tmp_path, endovis18_source):
    out = tmp_path / "out"
    result = _build(endovis18_source[0], out)
    assert result.exit_code == 0, result.output
    assert "no_vqla_label" in result.output and str(out) in result.output
    result = runner.invoke(app, ["validate", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["valid"] is True


def test_truncated_png_is_dropped_or_strict_error(tmp_path, endovis18_copy):
    root, _ = endovis18_copy
    image, _ = _frame_files(root)
    image.write_bytes(image.read_bytes()[:5000])
    out = tmp_path / "out"
    result = _build(root, out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    dropped = {d["frame_id"]: d for d in manifest["dropped"]}
    assert dropped["seq_2/frame001"]["reason"] == "unreadable_image"
    assert dropped["seq_2/frame001"]["path"].endswith("seq_2/left_frames/frame001.png")
    assert "unreadable_image" in result.output
    _assert_error(
        _build(root, tmp_path / "strict", "--strict"), "seq_2/frame001", "unreadable_image", out=tmp_path / "strict"
    )


def test_missing_mask_and_missing_image(tmp_path, endovis18_copy):
    root, _ = endovis18_copy
    image, mask = _frame_files(root, frame="frame002")
    mask.unlink()
    for copy in root.glob("**/seq2_frame003.png"):
        copy.unlink()
    for copy in root.glob("**/seq_2/left_frames/frame003.png"):
        copy.unlink()
    out = tmp_path / "out"
    assert _build(root, out).exit_code == 0
    reasons = {d["frame_id"]: d["reason"] for d in json.loads((out / "manifest.json").read_text())["dropped"]}
    assert reasons["seq_2/frame002"] == "no_mask"
    assert reasons["seq_2/frame003"] in {"no_image", "no_mask"}  # image and mask copies both gone
    _assert_error(_build(root, tmp_path / "strict", "--strict"), "seq_2/frame002", out=tmp_path / "strict")


def test_mask_size_mismatch_names_both_files(tmp_path, endovis18_copy):
    root, _ = endovis18_copy
    image, mask = _frame_files(root)
    mask.write_bytes(encode_png(np.zeros((100, 120), np.uint8)))
    _assert_error(
        _build(root, tmp_path / "out"), mask.name, "frame001.png", "120x100", "1280x1024", out=tmp_path / "out"
    )


def test_mask_value_outside_label_map(tmp_path, endovis18_copy):
    root, _ = endovis18_copy
    _, mask = _frame_files(root)
    arr = np.zeros((1024, 1280), np.uint8)
    arr[10:20, 10:20] = 9
    mask.write_bytes(encode_png(arr))
    _assert_error(_build(root, tmp_path / "out"), mask.name, "value 9", out=tmp_path / "out")


def test_bad_vqla_line_and_unknown_answer(tmp_path, endovis18_copy):
    root, _ = endovis18_copy
    label = next(root.glob("EndoVis-18-VQA_extended/seq_2/vqa/Classification/frame001*.txt"))
    original = label.read_text()
    label.write_text(original + "what is the state of bipolar_forceps?|Dancing|1,1,5,5\n")
    _assert_error(_build(root, tmp_path / "a"), label.name, "Dancing", out=tmp_path / "a")
    label.write_text(original + "this line has no separators\n")
    _assert_error(_build(root, tmp_path / "b"), label.name, "this line has no separators", out=tmp_path / "b")


def test_unknown_endovis17_folder(tmp_path, endovis17_source):
    root = tmp_path / "src"
    shutil.copytree(endovis17_source[0], root)
    gt = next(root.glob("endovis17/*/instrument_dataset_1/ground_truth"))
    shutil.copytree(next(gt.iterdir()), gt / "Mystery_Tool_labels")
    result = runner.invoke(app, ["build", "mtlendovis-gen", "--src", str(root), "--out", str(tmp_path / "out")])
    _assert_error(result, "Mystery_Tool_labels", out=tmp_path / "out")


def test_empty_or_wrong_src(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _assert_error(_build(empty, tmp_path / "out"), str(empty), out=tmp_path / "out")
    _assert_error(_build(tmp_path / "nope", tmp_path / "out2"), "nope", out=tmp_path / "out2")


def test_existing_out_needs_overwrite(tmp_path, endovis18_source):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for extra in ((), ("--overwrite",)):  # a folder the build did not write is never replaced (issue 16 case 4)
        _assert_error(_build(endovis18_source[0], out, *extra), str(out), "not a previous `endods build` output")
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert _build(endovis18_source[0], out).exit_code == 0  # an empty folder holds nothing to lose
    _assert_error(_build(endovis18_source[0], out), str(out), "pass --overwrite")
    assert _build(endovis18_source[0], out, "--overwrite").exit_code == 0  # our own dataset is replaced


def test_bad_option_values_and_odd_paths_give_one_message(tmp_path, endovis18_source):
    src = endovis18_source[0]
    for fraction in ("1.5", "0"):
        out = tmp_path / f"f{fraction}"
        args = ["build", "mtlendovis", "--src", str(src), "--out", str(out), "--test-fraction", fraction]
        result = runner.invoke(app, args, env={"COLUMNS": "200"})  # wide: the error box does not wrap
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output  # a usage error
        assert "--test-fraction" in result.output and "between 0 and 1" in result.output and not out.exists()
    target = tmp_path / "a_file"
    target.write_text("keep me")
    _assert_error(_build(src, target, "--overwrite"), "is a file", str(target))
    assert target.read_text() == "keep me"
    # a path with rich-markup-like brackets is printed verbatim, not styled or crashed on
    odd = tmp_path / "br[v2]" / "[/x]"
    result = runner.invoke(app, ["validate", str(odd)])
    _assert_error(result, str(odd))
