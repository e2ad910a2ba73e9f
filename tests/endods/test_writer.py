import logging
import os
import signal
import subprocess
import sys
import textwrap

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from endods.dataset import open_dataset
from endods.errors import SourceError
from endods.pngio import decode_png, encode_png
from endods.writer import BuildSession, EncodedFrame, SplitConfig
from schemas.labelmaps import MTLENDOVIS
from schemas.outputs import OutputError


def _frames(n: int = 12, seed: int = 0) -> list[EncodedFrame]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        mask = rng.integers(0, 8, (24, 32), dtype=np.uint8)
        mask[0, 0] = 255
        counts = np.bincount(mask[mask != 255], minlength=8)
        out.append(
            EncodedFrame(
                f"seq_{i % 3}/frame{i:03d}",
                f"seq_{i % 3}",
                "endovis18",
                i % 4,
                encode_png(img),
                encode_png(mask),
                tuple(counts),
            )
        )
    return out


def _build(out, frames, **kw):
    with BuildSession(out, overwrite=kw.pop("overwrite", False)) as s:
        for f in frames:
            s.add(f)
        return s.finish("mtlendovis", MTLENDOVIS, SplitConfig("paper", 0.25, 0), **kw)


def test_roundtrip_through_datasets(tmp_path, caplog):
    frames = _frames()
    manifest = _build(tmp_path / "out", reversed(frames))
    with caplog.at_level(logging.WARNING):
        dd = datasets.load_dataset(str(tmp_path / "out"))
    assert not [r for r in caplog.records if "dataset card" in r.getMessage()]  # the card's YAML is accepted
    assert set(dd) == {"train", "test"}
    assert dd["train"].features["activity"].names == list(MTLENDOVIS.activities)
    by_id = {f.frame_id: f for f in frames}
    for split in dd:
        for row in dd[split]:
            src = by_id[row["frame_id"]]
            assert row["activity"] == src.activity
            assert np.array_equal(np.array(row["mask"]), decode_png(src.mask_png))
            assert manifest.frames[row["frame_id"]]["split"] == split
    assert manifest.counts["test"].frames == 3  # round(12 * 0.25)
    for split, counts in manifest.counts.items():  # uncompressed row-group bytes, as the card states them
        meta = pq.ParquetFile(next((tmp_path / "out" / "data").glob(f"{split}-*.parquet"))).metadata
        assert counts.num_bytes == sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) > 0
        assert f"num_bytes: {counts.num_bytes}" in (tmp_path / "out" / "README.md").read_text()
    assert manifest.version == manifest.compute_version()


def test_order_independent_bytes(tmp_path):
    frames = _frames()
    _build(tmp_path / "a", frames)
    _build(tmp_path / "b", list(reversed(frames)))
    for rel in ["README.md", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_existing_output_needs_overwrite_and_failure_keeps_previous(tmp_path):
    out = tmp_path / "out"
    first = _build(out, _frames(seed=1))
    with pytest.raises(OutputError, match=str(out)):
        BuildSession(out)
    with pytest.raises(RuntimeError):
        with BuildSession(out, overwrite=True) as s:
            s.add(_frames(seed=2)[0])
            raise RuntimeError("boom")
    assert open_dataset(out).manifest.version == first.version
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
    second = _build(out, _frames(seed=2), overwrite=True)
    assert open_dataset(out).manifest.version == second.version != first.version


def test_output_that_is_a_file_or_a_link_is_refused_before_any_work(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    (tmp_path / "file").write_text("hi")
    (tmp_path / "link").symlink_to(target)
    for name, needle in (("file", "is a file"), ("link", "symbolic link")):
        with pytest.raises(OutputError, match=needle):
            _build(tmp_path / name, _frames(), overwrite=True)
    assert (tmp_path / "file").read_text() == "hi" and (tmp_path / "link").resolve() == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "link", "real"]  # no staging left


def test_no_usable_frame_is_an_error_not_an_empty_dataset(tmp_path):
    out = tmp_path / "out"
    with (
        pytest.raises(SourceError, match=r"no frame is usable .*\(1 no_mask, 2 no_vqla_label\)"),
        BuildSession(out) as s,
    ):
        for i, reason in enumerate(["no_vqla_label", "no_mask", "no_vqla_label"]):
            s.drop(f"seq_1/frame{i:03d}", reason, f"src/{i}.png")
        s.finish("mtlendovis", MTLENDOVIS, SplitConfig("paper", 0.25, 0))
    assert list(tmp_path.iterdir()) == []


def test_kill_9_during_build_leaves_previous_output(tmp_path):
    out = tmp_path / "out"
    first = _build(out, _frames(seed=1))
    script = textwrap.dedent(
        f"""
        import time, sys
        from endods.writer import BuildSession
        from tests.endods.test_writer import _frames
        with BuildSession({str(out)!r}, overwrite=True) as s:
            for f in _frames(seed=3):
                s.add(f)
            print("staged", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    assert proc.stdout.readline().strip() == "staged"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert open_dataset(out).manifest.version == first.version
    # the next build cleans the dead process's staging folder
    _build(out, _frames(seed=4), overwrite=True)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_spool_spills_to_disk_beyond_its_budget(tmp_path):
    from endods.spool import Spool

    spool = Spool(tmp_path / "spool.bin", memory_budget=10)
    handles = [spool.put(bytes([i]) * 6) for i in range(4)]  # the first fits in memory, the rest spill
    assert [spool.get(h) for h in reversed(handles)] == [bytes([i]) * 6 for i in reversed(range(4))]
    assert (tmp_path / "spool.bin").stat().st_size == 18
    spool.close()
    assert not (tmp_path / "spool.bin").exists()


def _build_expecting(out, frames, expected, add_order=None):
    from endods.split import SplitKey

    with BuildSession(out) as s:
        s.expect(
            [SplitKey(f.frame_id, f.activity, f.group) for f in expected], SplitConfig("paper", 0.25, 0), MTLENDOVIS
        )
        for f in add_order or frames:
            s.add(f)
        return s.finish("mtlendovis", MTLENDOVIS, SplitConfig("paper", 0.25, 0))


@pytest.mark.parametrize("case", ["as_planned", "frame_dropped_after_plan", "out_of_order"])
def test_streaming_gives_the_same_bytes_as_spooling(tmp_path, case):
    from schemas.records import natural_key

    frames = sorted(_frames(14), key=lambda f: natural_key(f.frame_id))
    kept = frames if case != "frame_dropped_after_plan" else frames[:5] + frames[6:]
    order = list(reversed(kept)) if case == "out_of_order" else kept
    streamed = _build_expecting(tmp_path / "streamed", kept, frames, order)
    plain = _build(tmp_path / "plain", kept)
    assert streamed.outputs == plain.outputs
    for rel in plain.outputs:
        assert (tmp_path / "streamed" / rel).read_bytes() == (tmp_path / "plain" / rel).read_bytes()
    assert sorted(p.name for p in (tmp_path / "streamed" / "data").iterdir()) == sorted(
        p.name for p in (tmp_path / "plain" / "data").iterdir()
    )
