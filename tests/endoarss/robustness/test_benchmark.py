"""The robustness benchmark: option parsing, per-image seeds, where corruption happens, masks, baseline, files."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from endoarss.data.dataset import decode_record, open_split
from endoarss.robustness import CORRUPTIONS, CorruptionError, corrupt, corrupt_pair
from endoarss.robustness import benchmark as bench
from endoarss.robustness import corrupted_split as corrupted
from endoarss.robustness.results import build_result
from tests.endoarss.conftest import CLASS_COLORS, TINY_SIZE


def test_parse_severities() -> None:
    assert bench.parse_severities("1-5") == [1, 2, 3, 4, 5]
    assert bench.parse_severities("1,3,5") == [1, 3, 5]
    assert bench.parse_severities(" 5 , 1-2,2") == [1, 2, 5]
    assert bench.parse_severities("4") == [4]
    for bad in ("0", "6", "1-6", "5-1", "a", "", "1,,3", "2.5"):
        with pytest.raises(CorruptionError, match="severities"):
            bench.parse_severities(bad)
    with pytest.raises(CorruptionError, match=r"severities range '3-1' is reversed: write 1-3$"):
        bench.parse_severities("3-1")  # both ends in 1..5: the order is what is wrong
    with pytest.raises(CorruptionError, match=r"severities range '5-2' in '1,5-2' is reversed: write 2-5$"):
        bench.parse_severities("1,5-2")
    with pytest.raises(CorruptionError, match=r"severities must lie in 1..5, got '6-1'$"):
        bench.parse_severities("6-1")


def test_parse_corruptions_keeps_the_paper_order() -> None:
    assert bench.parse_corruptions(None) == bench.parse_corruptions("all") == list(CORRUPTIONS)
    assert bench.parse_corruptions("smoke, gaussian_noise") == ["gaussian_noise", "smoke"]
    with pytest.raises(CorruptionError, match="unknown corruption.*fog.*valid names: gaussian_noise"):
        bench.parse_corruptions("smoke,fog")


def test_image_seed_is_stable_and_depends_on_every_part() -> None:
    seed = corrupted.image_seed(0, "seq_1/frame000", "smoke", 3)
    assert seed == corrupted.image_seed(0, "seq_1/frame000", "smoke", 3) and 0 <= seed < 2**32
    others = {
        corrupted.image_seed(1, "seq_1/frame000", "smoke", 3),
        corrupted.image_seed(0, "seq_1/frame001", "smoke", 3),
        corrupted.image_seed(0, "seq_1/frame000", "spatter", 3),
        corrupted.image_seed(0, "seq_1/frame000", "smoke", 4),
    }
    assert seed not in others and len(others) == 4
    digest = hashlib.blake2b(b"0\x00seq_1/frame000\x00smoke\x003", digest_size=4).digest()
    assert seed == int.from_bytes(digest, "little")  # not the per-process salted hash()


@pytest.fixture(scope="module")
def split(tiny_dataset: Path):
    return open_split(tiny_dataset, "test")


def test_corruption_happens_at_the_model_input(split, monkeypatch: pytest.MonkeyPatch) -> None:
    shapes: list[tuple[int, ...]] = []

    def recording(image: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
        shapes.append(image.shape)
        return corrupt(image, name, severity, seed)

    def recording_pair(image: np.ndarray, mask: np.ndarray, name: str, severity: int, seed: int = 0):
        shapes.append(image.shape)
        return corrupt_pair(image, mask, name, severity, seed)

    monkeypatch.setattr(corrupted, "corrupt", recording)
    monkeypatch.setattr(corrupted, "corrupt_pair", recording_pair)
    conditions = [(corrupted.CLEAN, 0), ("gaussian_noise", 2), ("pixelate", 5)]
    data = corrupted.CorruptedSplit(split, (42, 56), conditions, "input", seed=0)
    items = [data[i] for i in range(len(data))]
    assert shapes == [(42, 56, 3)] * (2 * len(split))  # the clean condition is never corrupted
    for item in items:
        assert tuple(item["image"].shape) == (3, 42, 56)
        assert item["label_mask"].shape == TINY_SIZE  # scored at label resolution
    # at="native" corrupts the stored frame, then resizes it
    shapes.clear()
    native = corrupted.CorruptedSplit(split, (42, 56), conditions, "native", seed=0)
    assert tuple(native[len(split) + 1]["image"].shape) == (3, 42, 56)
    assert shapes == [(*TINY_SIZE, 3)]
    # the corrupted input is exactly corrupt(resized frame) with the per-image seed
    image, _ = decode_record(split.table[1])
    from endoarss.data.augment import resize_image

    seed = corrupted.image_seed(0, split.table[1]["frame_id"], "pixelate", 5)
    expected = corrupt(resize_image(image, (42, 56)), "pixelate", 5, seed)
    assert np.array_equal(items[2 * len(split) + 1]["image"].numpy().transpose(1, 2, 0), expected)


def test_elastic_warps_the_label_mask(split) -> None:
    row = split.table[0]
    image, mask = decode_record(row)
    cls = int(mask[mask != 255].max())
    seed = corrupted.image_seed(0, row["frame_id"], "elastic_transform", 5)
    # Input size = label size: exactly corrupt_pair's warp.
    same = corrupted.CorruptedSplit(split, TINY_SIZE, [("elastic_transform", 5)], "input", seed=0)[0]
    warped_image, warped_mask = corrupt_pair(image, mask, "elastic_transform", 5, seed)
    assert np.array_equal(same["label_mask"], warped_mask) and not np.array_equal(warped_mask, mask)
    assert np.array_equal(same["image"].numpy().transpose(1, 2, 0), warped_image)
    # Smaller input: the field is resampled to label resolution; the mask follows the warped rectangle.
    small = corrupted.CorruptedSplit(split, (42, 56), [("elastic_transform", 5)], "input", seed=0)[0]
    moved = small["label_mask"]
    assert moved.shape == mask.shape and set(np.unique(moved)) <= set(np.unique(mask))
    assert not np.array_equal(moved, mask)
    import cv2

    seen = small["image"].numpy().transpose(1, 2, 0).astype(int)
    rect = np.abs(seen - np.array(CLASS_COLORS[cls])).max(-1) < 60  # pixels showing the class colour
    as_input = cv2.resize(moved, (56, 42), interpolation=cv2.INTER_NEAREST) == cls
    unwarped = cv2.resize(mask, (56, 42), interpolation=cv2.INTER_NEAREST) == cls
    agree, agree_before = (rect == as_input).mean(), (rect == unwarped).mean()
    assert agree > 0.93 and agree > agree_before, (agree, agree_before)


def test_aggregation_by_hand() -> None:
    conditions = [(corrupted.CLEAN, 0), ("gaussian_noise", 1), ("gaussian_noise", 2), ("shot_noise", 1)]
    conditions += [("shot_noise", 2), ("smoke", 1), ("smoke", 2)]
    values = [0.9, 0.8, 0.6, 0.7, float("nan"), 0.5, 0.1]
    scores = [{"miou": v, "hd": 10 * v, "per_class_iou": [v]} for v in values]
    result = build_result(conditions, scores, "standard", {"frames": 1})
    assert result.metrics == ["miou", "hd"] and result.shown == ["miou", "hd"]
    assert result.severities == [1, 2] and result.corruptions == ["gaussian_noise", "shot_noise", "smoke"]
    s = result.summary["miou"]
    assert s["clean"] == 0.9
    assert s["corruptions"]["gaussian_noise"]["mean"] == pytest.approx(0.7)
    assert s["corruptions"]["shot_noise"]["mean"] == pytest.approx(0.7)  # NaN left out
    assert s["families"]["noise"][1] == pytest.approx(0.75) and s["families"]["noise"][2] == pytest.approx(0.6)
    assert s["families"]["noise"]["mean"] == pytest.approx(0.7)
    assert s["families"]["occlusion"] == pytest.approx({1: 0.5, 2: 0.1, "mean": 0.3})
    assert s["overall"][1] == pytest.approx((0.8 + 0.7 + 0.5) / 3) and s["overall"][2] == pytest.approx(0.35)
    assert s["overall"]["mean"] == pytest.approx((0.8 + 0.6 + 0.7 + 0.5 + 0.1) / 5)


def test_clean_baseline_equals_evaluate_model(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    from endoarss.engine.run_folder import load_run
    from endoarss.inference.evaluate import evaluate_model

    run = tiny_run[0]
    events: list[tuple[int, int]] = []
    result = bench.run_robustness(
        run,
        tiny_dataset,
        ["contrast", "elastic_transform"],
        [1, 5],
        num_workers=0,
        batch_size=4,
        out=tmp_path / "R",
        on_progress=lambda d, t: events.append((d, t)),
    )
    loaded = load_run(run)
    expected = evaluate_model(loaded.model, open_split(tiny_dataset, "test"), loaded.config.image_size, 4)
    for key in ("ac", "f1", "miou", "dice", "hd", "hd95", "ssim"):
        assert result.clean[key] == pytest.approx(expected[key], abs=1e-12), key
    assert events[-1] == (8 * 5, 8 * 5) and [d for d, _ in events] == sorted(d for d, _ in events)
    assert len(result.rows) == 4 and result.info["frames"] == 8 and result.mode == "standard"
    on_disk = json.loads((tmp_path / "R" / "robustness.json").read_text())
    assert on_disk["clean"]["miou"] == pytest.approx(result.clean["miou"])
    mean = np.mean([r["miou"] for r in result.rows])
    assert on_disk["summary"]["miou"]["overall"]["mean"] == pytest.approx(mean)
    md = (tmp_path / "R" / "robustness.md").read_text()
    assert "Metric mode: **standard**" in md and "| digital | contrast |" in md and "| **all** |" in md


def test_runs_are_deterministic_and_independent_of_workers(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    run = tiny_run[0]
    common = {"corruptions": ["gaussian_noise", "spatter", "elastic_transform"], "severities": [2, 4], "limit": 4}
    a = bench.run_robustness(run, tiny_dataset, num_workers=0, batch_size=4, out=tmp_path / "a", **common)
    b = bench.run_robustness(run, tiny_dataset, num_workers=2, batch_size=3, out=tmp_path / "b", **common)
    assert (tmp_path / "a" / "robustness.csv").read_text() == (tmp_path / "b" / "robustness.csv").read_text()
    assert a.info["frames"] == 4 and len(a.rows) == 6
    # compat mode and native corruption are different numbers from the same run
    c = bench.run_robustness(run, tiny_dataset, compat=True, at="native", out=tmp_path / "c", **common)
    assert c.mode == "compat" and "ac_overall" in c.metrics and c.info["at"] == "native"
    assert all(math.isfinite(r["miou"]) for r in c.rows)
    assert a.value("gaussian_noise", 2, "miou") == b.value("gaussian_noise", 2, "miou")


def test_bad_options_are_clear_errors(tiny_run, tiny_dataset: Path, tmp_path: Path) -> None:
    run = tiny_run[0]
    with pytest.raises(CorruptionError, match="at must be one of"):
        bench.run_robustness(run, tiny_dataset, at="output", out=tmp_path)
    with pytest.raises(CorruptionError, match="severities must lie in 1..5"):
        bench.run_robustness(run, tiny_dataset, severities=[0, 1], out=tmp_path)
    with pytest.raises(CorruptionError, match="limit"):
        bench.run_robustness(run, tiny_dataset, limit=0, out=tmp_path)
    with pytest.raises(CorruptionError, match="unknown corruption"):
        bench.run_robustness(run, tiny_dataset, corruptions=["fog"], out=tmp_path)
    assert not (tmp_path / "robustness.csv").exists()


def test_gallery_shows_the_benchmarked_severities() -> None:
    from endoarss.robustness.benchmark import gallery_severities

    assert gallery_severities([1, 5]) == [1, 5]  # not 1, 3, 5: severity 3 was never run
    assert gallery_severities([4]) == [4]
    assert gallery_severities([1, 2, 3, 4, 5]) == [1, 3, 5]
    assert gallery_severities([2, 3, 4, 5]) == [3, 5]
