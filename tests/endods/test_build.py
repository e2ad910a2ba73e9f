"""MTLEndovis / MTLEndovis-Gen builds against the generator's own record of what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from endods.build import BuildOptions, build_mtlendovis, build_mtlendovis_gen
from endods.dataset import open_dataset
from endods.pngio import decode_png
from endods.split import SplitConfig
from endods.synth import synth_endovis17, synth_endovis18
from endods.validate import validate_dataset
from schemas.labelmaps import MTLENDOVIS
from schemas.records import build_features


def test_build_matches_generator_truth(built_mtlendovis, endovis18_source):
    _, report = endovis18_source
    manifest = open_dataset(built_mtlendovis).manifest
    assert set(manifest.frames) == set(report.frames)
    assert {d.frame_id: d.reason for d in manifest.dropped} == report.dropped
    pixels = np.zeros(MTLENDOVIS.num_classes, np.int64)
    for fid, truth in report.frames.items():
        assert manifest.frames[fid]["activity"] == truth["activity"]
        assert manifest.frames[fid]["group"] == truth["group"]
        assert manifest.frames[fid]["answers"] == truth["states"]  # the raw VQLA answers
        assert manifest.frames[fid]["states"] == _mapped(truth["states"])
        pixels += np.array(truth["class_pixels"])
    built = sum(np.array([c.class_pixels[str(i)] for i in range(8)]) for c in manifest.counts.values())
    assert built.tolist() == pixels.tolist()
    per_activity: dict[str, int] = {}
    for truth in report.frames.values():
        per_activity[truth["activity"]] = per_activity.get(truth["activity"], 0) + 1
    for name in MTLENDOVIS.activities:
        assert sum(c.activities[name] for c in manifest.counts.values()) == per_activity.get(name, 0)
    assert validate_dataset(built_mtlendovis) == []


def test_load_dataset_roundtrip(built_mtlendovis, endovis18_source):
    root, report = endovis18_source
    dd = datasets.load_dataset(str(built_mtlendovis))
    assert dd["train"].features == build_features(MTLENDOVIS)
    total = 0
    for split in dd:
        for row in dd[split]:
            total += 1
            truth = report.frames[row["frame_id"]]
            assert dd[split].features["activity"].int2str(row["activity"]) == truth["activity"]
            mask = np.array(row["mask"])
            assert row["mask"].mode == "L"
            assert np.bincount(mask.ravel(), minlength=8).tolist() == truth["class_pixels"]
            seq, frame = row["frame_id"].split("/")
            src_mask = decode_png(
                (root / "isinet18").glob(f"*/annotations/{seq.replace('_', '')}_{frame}.png").__next__().read_bytes()
            )
            assert np.array_equal(mask, src_mask)
            assert row["image"].size == (1280, 1024)
    assert total == len(report.frames)


def test_workers_and_repeat_give_identical_bytes(tmp_path, endovis18_source, built_mtlendovis):
    root, _ = endovis18_source
    out = tmp_path / "w2"
    build_mtlendovis(root, out, BuildOptions(split=SplitConfig("paper", 0.2, 0), workers=2))
    for rel in ["README.md", *open_dataset(out).manifest.outputs]:
        assert (out / rel).read_bytes() == (built_mtlendovis / rel).read_bytes(), rel
    a = json.loads((out / "manifest.json").read_text())
    b = json.loads((built_mtlendovis / "manifest.json").read_text())
    a.pop("provenance"), b.pop("provenance")
    assert a == b


def test_group_split_has_no_leakage(tmp_path, endovis18_source):
    out = tmp_path / "g"
    manifest = build_mtlendovis(endovis18_source[0], out, BuildOptions(split=SplitConfig("group", 0.2, 0)))
    sides: dict[str, set[str]] = {}
    for entry in manifest.frames.values():
        sides.setdefault(entry["group"], set()).add(entry["split"])
    assert all(len(s) == 1 for s in sides.values())
    assert manifest.options["split"] == "group"
    assert validate_dataset(out) == []


def test_gen_is_test_only_in_mtlendovis_ids(built_mtlendovis_gen, endovis17_source):
    _, report = endovis17_source
    ds = open_dataset(built_mtlendovis_gen)
    assert ds.splits == ["test"]
    assert ds.labelmap.activities == MTLENDOVIS.activities
    assert [c.name for c in ds.labelmap.classes] == MTLENDOVIS.class_names
    assert set(ds.manifest.frames) == set(report.frames)
    for rec in ds.records("test"):
        truth = report.frames[rec.frame_id]
        mask = decode_png(rec.mask)
        assert mask.shape == (1024, 1280)
        assert np.bincount(mask.ravel(), minlength=8).tolist() == truth["class_pixels"]
        assert ds.manifest.frames[rec.frame_id]["unmapped_instrument_pixels"] == truth["unmapped_instrument_pixels"]
    assert validate_dataset(built_mtlendovis_gen) == []


@pytest.mark.parametrize("tamper", ["parquet", "manifest"])
def test_validate_reports_tampering(tmp_path, built_mtlendovis, tamper):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(built_mtlendovis, out)
    if tamper == "parquet":
        path = next((out / "data").glob("train-*.parquet"))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        manifest = json.loads((out / "manifest.json").read_text())
        fid = next(iter(manifest["frames"]))
        manifest["frames"][fid]["activity"] = "idle" if manifest["frames"][fid]["activity"] != "idle" else "cutting"
        (out / "manifest.json").write_text(json.dumps(manifest))
    problems = validate_dataset(out)
    assert problems
    if tamper == "manifest":
        assert any(p.frame_id == fid for p in problems)


def test_validate_names_a_truncated_parquet_and_manifest_count_or_group_edits(tmp_path, built_mtlendovis):
    import shutil

    truncated = tmp_path / "truncated"
    shutil.copytree(built_mtlendovis, truncated)
    path = next((truncated / "data").glob("train-*.parquet"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    problems = validate_dataset(truncated)  # a problem list, not an ArrowInvalid traceback
    assert any(p.file == f"data/{path.name}" and "not a readable Parquet file" in p.message for p in problems)

    edited = tmp_path / "edited"
    shutil.copytree(built_mtlendovis, edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    activity = next(a for a, n in manifest["counts"]["train"]["activities"].items() if n > 0)
    manifest["counts"]["train"]["activities"][activity] += 1
    fid = next(iter(manifest["frames"]))
    manifest["frames"][fid]["group"] = "seq_99"
    (edited / "manifest.json").write_text(json.dumps(manifest))
    messages = [str(p) for p in validate_dataset(edited)]
    assert any("train: activity counts differ" in m and repr(activity) in m for m in messages), messages
    assert any(m.startswith(fid) and "manifest group 'seq_99'" in m for m in messages), messages

    empty = tmp_path / "empty"
    shutil.copytree(built_mtlendovis, empty)
    for path in (empty / "data").glob("*.parquet"):
        path.unlink()
    messages = [str(p) for p in validate_dataset(empty)]
    assert any("no Parquet files" in m for m in messages), messages


def test_relative_src_gives_same_source_digests(tmp_path, monkeypatch, endovis18_source, built_mtlendovis):
    root, _ = endovis18_source
    monkeypatch.chdir(root.parent)
    manifest = build_mtlendovis(Path(root.name), tmp_path / "rel", BuildOptions(split=SplitConfig("paper", 0.2, 0)))
    expected = open_dataset(built_mtlendovis).manifest.sources
    assert manifest.sources == expected
    assert all(s.files > 0 for s in expected.values())


def _mapped(answers: list[str]) -> list[str]:
    """docs/formats.md §5.1 written out independently: lower case, both manipulations merge, Staple -> stapling."""
    special = {"Tissue_Manipulation": "manipulation", "Tool_Manipulation": "manipulation", "Staple": "stapling"}
    return [special.get(a, a.lower()) for a in answers]


def _assert_build_is_the_report(out: Path, report) -> None:
    """Frames, drops, activities and every frame's class pixel counts exactly as the generator painted them."""
    ds = open_dataset(out)
    manifest = ds.manifest
    assert set(manifest.frames) == set(report.frames)
    assert {d.frame_id: d.reason for d in manifest.dropped} == report.dropped
    seen = 0
    for split in ds.splits:
        for rec in ds.records(split):
            truth = report.frames[rec.frame_id]
            assert manifest.frames[rec.frame_id]["activity"] == truth["activity"]
            mask = decode_png(rec.mask)
            assert mask.shape == (1024, 1280)
            assert np.bincount(mask.ravel(), minlength=8).tolist() == truth["class_pixels"]
            seen += 1
    assert seen == len(report.frames)


@pytest.mark.parametrize(
    "variant",
    [{}, {"ids": "2017"}, {"layout": "original"}],
    ids=["real-2018", "real-2017", "original"],
)
def test_mtlendovis_from_each_layout_and_isinet_table_is_the_report(tmp_path, variant):
    """docs/formats.md §9: the Extended VQLA, both ISINet id tables and the older layout build the same truth."""
    report = synth_endovis18(tmp_path / "src", sequences=2, frames=4, seed=5, damaged=True, **variant)
    manifest = build_mtlendovis(tmp_path / "src", tmp_path / "out", BuildOptions())
    _assert_build_is_the_report(tmp_path / "out", report)
    table = manifest.options["isinet_id_table"]
    if variant.get("ids") == "2017":
        assert table["file"] == "labels_2017.json" and table["unmapped"] == [4, 5]
        assert table["to_mtlendovis"] == {"1": 1, "2": 2, "3": 3, "4": 0, "5": 0, "6": 4, "7": 5, "8": 6, "9": 7}
    elif variant.get("layout") == "original":
        assert table["file"] is None and "2018" in table["ids"]
    else:
        assert table["to_mtlendovis"] == {str(i): i for i in range(1, 8)}
    assert manifest.options["endovis18_folders_read"] == [".", "miccai_challenge_2018_release_1"]


@pytest.mark.parametrize("layout", ["real", "original"])
def test_mtlendovis_gen_from_each_layout_is_the_report(tmp_path, layout):
    report = synth_endovis17(tmp_path / "src", sequences=2, frames=4, seed=5, damaged=True, layout=layout)
    build_mtlendovis_gen(tmp_path / "src", tmp_path / "out", BuildOptions())
    _assert_build_is_the_report(tmp_path / "out", report)


def test_suction_action_and_suction_tool_label_exactly_the_suction_action_frames(built_mtlendovis, endovis18_source):
    """`Suction` (action) and `suction` (tool) both occur; only the action makes a suction frame (§9.1)."""
    root, report = endovis18_source
    manifest = open_dataset(built_mtlendovis).manifest
    action, tool = set(), set()
    for label in root.glob("EndoVis-18-VQA_extended/seq_*/vqa/Classification/*.txt"):
        answers = [line.split("|")[1] for line in label.read_text().splitlines() if line]
        frame_id = f"{label.parent.parent.parent.name}/{label.name.split('_')[0]}"
        if "Suction" in answers:
            action.add(frame_id)
        if "suction" in answers:
            tool.add(frame_id)
    assert action and tool - action  # both cases are present in the fixture
    suction = {fid for fid, rec in manifest.frames.items() if rec["activity"] == "suction"}
    assert suction == action


def test_gen_workers_and_repeat_give_identical_bytes(tmp_path, endovis17_source, built_mtlendovis_gen):
    """The Gen image is cropped and re-encoded at build time: still byte-identical for any worker count."""
    out = tmp_path / "w2"
    build_mtlendovis_gen(endovis17_source[0], out, BuildOptions(workers=2))
    for rel in ["README.md", *open_dataset(out).manifest.outputs]:
        assert (out / rel).read_bytes() == (built_mtlendovis_gen / rel).read_bytes(), rel
    a = json.loads((out / "manifest.json").read_text())
    b = json.loads((built_mtlendovis_gen / "manifest.json").read_text())
    a.pop("provenance"), b.pop("provenance")
    assert a == b
