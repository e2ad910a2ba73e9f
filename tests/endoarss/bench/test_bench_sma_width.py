"""The pure parts of benchmarks/sma_width.py: demo overrides, the output line, SMA activation bytes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cli.demo import DEMO_TRAINING

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def sma_width():
    spec = importlib.util.spec_from_file_location("sma_width", ROOT / "benchmarks" / "sma_width.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overrides_change_only_width_and_epochs(sma_width) -> None:
    same = sma_width.demo_overrides(64, None)
    assert same.count("sma_dim=64") == 1 and not any(o.startswith("sma_dim=") and o != "sma_dim=64" for o in same)
    assert sorted(o for o in same if o != "sma_dim=64") == sorted(o for o in DEMO_TRAINING if "sma_dim" not in o)
    shorter = sma_width.demo_overrides(16, 6)
    assert [o for o in shorter if o.startswith("epochs=")] == ["epochs=6"]
    assert len(shorter) == len(DEMO_TRAINING)


def test_median_throughput_reads_training_records(sma_width) -> None:
    lines = [json.dumps({"epoch": i, "throughput_img_s": v}) for i, v in enumerate([10.0, 30.0, 20.0])]
    lines.append(json.dumps({"epoch": 3, "throughput_img_s": None}))  # an epoch without a rate is ignored
    assert sma_width.median_throughput(lines) == 20.0
    assert sma_width.median_throughput([]) is None


def test_width_record_is_one_json_line(sma_width) -> None:
    metrics = {"miou_fg": 0.7, "ac": 0.5, "f1": 0.4}
    record = sma_width.width_record(16, 24, metrics, 50.0, 123.456, {112: 3 * 2**20, 224: 12 * 2**20})
    assert record == {
        "benchmark": "sma_width",
        "sma_dim": 16,
        "epochs": 24,
        "test_miou_fg": 0.7,
        "test_ac": 0.5,
        "train_img_s": 50.0,
        "train_seconds": 123.5,
        "sma_activation_mib_per_image_112px": 3.0,
        "sma_activation_mib_per_image_224px": 12.0,
    }
    assert json.loads(json.dumps(record)) == record


def test_sma_activation_bytes_scale_with_pixels_and_width(sma_width) -> None:
    small, large = sma_width.sma_activation_bytes(4, 56), sma_width.sma_activation_bytes(4, 112)
    assert large == pytest.approx(4 * small, rel=0.01)  # activations are per pixel: 4x the pixels, 4x the bytes
    wide = sma_width.sma_activation_bytes(16, 56)
    assert 2.5 * small < wide < 4 * small  # the N x d plane grows with d; the 3-channel convs do not
