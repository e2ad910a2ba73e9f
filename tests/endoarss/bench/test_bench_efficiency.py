"""endoarss.bench.efficiency: preset parity with config, the measured dict, paper ratios, ablation bookkeeping."""

from __future__ import annotations

import pytest
import torch

from endoarss.bench import ablate as efficiency_ablate
from endoarss.bench.ablate import _on_off, measure_optimizations
from endoarss.bench.efficiency import PAPER, Settings, _build, measure_efficiency, preset_spec
from endoarss.config import PRESETS, build_config
from endoarss.engine.run_folder import build_model
from endoarss.errors import ConfigError
from schemas.labelmaps import MTLENDOVIS

TINY = {"backbone_size": "tiny", "batch": 2, "image_size": 28, "device": "cpu", "warmup": 0, "repeats": 2}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # 2 shared cores: more threads only add contention


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_spec_matches_the_trained_config(name: str) -> None:
    """The bench measures the model `endods train --preset NAME` trains: TrainConfig defaults included.

    Both paths build a tiny random model (the trainer's ``build_model`` from the TrainConfig, the bench's
    ``_build`` from ``preset_spec``); their recorded ``model.config`` must agree key for key.
    """
    config = build_config(name, ["backbone_size=tiny", "image_size=56", "weights=random"])
    trained = build_model(config, MTLENDOVIS).config
    spec = preset_spec(name)
    cpu = torch.device("cpu")
    measured = _build(spec, "tiny", 56, MTLENDOVIS.num_activities, MTLENDOVIS.num_classes, Settings(), cpu).config
    assert measured == trained
    assert spec["weighting"] == config.weighting


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("endoarss", ("dinov2", "tesla", "db_mtl", True, ("activity", "segmentation"))),
        ("endoarss-stch", ("dinov2", "tesla", "stch", True, ("activity", "segmentation"))),
        ("dinov2-mmoe-ew", ("dinov2", "mmoe", "ew", False, ("activity", "segmentation"))),
        (
            "resnet101-dselect_k-aligned_mtl",
            ("resnet101", "dselect_k", "aligned_mtl", False, ("activity", "segmentation")),
        ),
        ("seg-only", ("dinov2", "single", "ew", True, ("segmentation",))),
        ("cls-only", ("dinov2", "single", "ew", True, ("activity",))),
    ],
)
def test_preset_spec_of_paper_rows(name: str, expected: tuple) -> None:
    spec = preset_spec(name)
    assert (spec["backbone"], spec["arch"], spec["weighting"], spec["sma"], tuple(spec["tasks"])) == expected


@pytest.mark.parametrize("name", ["nope", "dinov2-tesla", "resnet101-tesla-foo", "endoarss-foo"])
def test_unknown_preset_raises(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_spec(name)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"amp": "fp8"}, "amp"),
        ({"image_size": 30}, "multiple of"),
        ({"repeats": 0}, "repeats"),
        ({"batch": 1}, "batch"),
        ({"device": "cuda"}, "cuda") if not torch.cuda.is_available() else ({"batch": 1}, "batch"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        measure_efficiency(**{**TINY, **kwargs})


def test_measure_efficiency_reports_consistent_numbers() -> None:
    result = measure_efficiency("endoarss", amp="none", **TINY)
    train, infer = result["train"], result["infer"]
    assert (result["arch"], result["weighting"], result["sma"]) == ("tesla", "db_mtl", True)
    assert train["losses_finite"] is True
    assert train["step_s_min"] <= train["step_s_median"]
    assert train["img_s_median"] == pytest.approx(2 / train["step_s_median"])
    assert infer["img_s_best"] == pytest.approx(2 / infer["step_s_min"])
    assert train["memory_kind"] == "cpu_rss_delta" and train["peak_mib"] > 0
    vs = result["vs_paper"]
    assert "RTX 4090, different hardware" in vs["note"]
    assert vs["inference_speedup_vs_paper"] == pytest.approx(infer["img_s_median"] / 35.66)
    assert vs["train_memory_ratio_vs_paper"] == pytest.approx(train["peak_mib"] / 9858)
    assert vs["infer_memory_ratio_vs_paper"] == pytest.approx(infer["peak_mib"] / 1668)
    assert result["paper"]["infer_img_s"] == PAPER["infer_img_s"] == 35.66
    assert result["targets"]["applies"] is False and result["targets"]["met"] is None  # CPU, tiny
    # frozen DINOv2: only LoRA/TESLA adapters, SMA, router and heads train
    assert 0 < result["params_trainable"] < result["params_total"]
    assert result["compile"] == {"requested": False, "used": False, "reason": None}


def test_on_off_flips_one_switch() -> None:
    base = Settings(amp="none")
    assert _on_off(base, "amp") == (Settings(amp="bf16"), base)
    assert _on_off(Settings(amp="fp16"), "amp") == (Settings(amp="fp16"), Settings(amp="none"))
    assert _on_off(base, "gradient_checkpointing") == (Settings(gradient_checkpointing=True), base)
    assert _on_off(base, "frozen_backbone") == (base, Settings(frozen_backbone=False))


def test_ablation_measures_on_and_off() -> None:
    progress: list[tuple[int, int]] = []
    result = measure_optimizations(
        "endoarss",
        amp="none",
        **TINY,
        only=["frozen_backbone", "compile"],
        on_progress=lambda d, t: progress.append((d, t)),
    )
    opts = result["ablation"]["optimizations"]
    assert progress == [(1, 2), (2, 2)]  # base + one variant; compile is not requested on CPU
    assert "--ablate-compile" in opts["compile"]["skipped"]
    frozen = opts["frozen_backbone"]
    # full fine-tune trains every weight; the base (frozen) run is the one reported at the top level
    assert frozen["off"]["params_trainable"] == result["params_total"]
    assert frozen["on"]["params_trainable"] == result["params_trainable"] < result["params_total"]
    ratios = frozen["ratios_on_over_off"]
    assert ratios["train_time_ratio"] == pytest.approx(
        frozen["on"]["train_step_s_median"] / frozen["off"]["train_step_s_median"]
    )
    assert ratios["train_memory_ratio"] == pytest.approx(
        frozen["on"]["train_peak_mib"] / frozen["off"]["train_peak_mib"]
    )


def test_ablation_skips_what_does_not_apply_and_what_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []

    def fake(**kwargs: object) -> dict:
        calls.append(kwargs)
        if kwargs["channels_last"]:
            raise RuntimeError("no kernel")
        return {"train": {}, "infer": {}}

    monkeypatch.setattr(efficiency_ablate, "measure_efficiency", fake)
    result = measure_optimizations("resnet101-hps-ew", only=["sdpa", "frozen_backbone", "channels_last"], **TINY)
    opts = result["ablation"]["optimizations"]
    assert opts["sdpa"]["skipped"] == "no attention in a ResNet backbone"
    assert "fine-tuned" in opts["frozen_backbone"]["skipped"]
    assert opts["channels_last"]["skipped"] == "RuntimeError: no kernel"
    assert len(calls) == 2 and calls[1]["channels_last"] is True


def test_ablation_reports_the_sma_share_of_training_memory() -> None:
    result = measure_optimizations("endoarss", amp="none", **TINY, only=["sma"])
    sma = result["ablation"]["optimizations"]["sma"]
    assert sma["on"]["settings"]["sma"] is True and sma["off"]["settings"]["sma"] is False
    # SMA's 14 trainable parameters exist only in the "on" run
    assert sma["on"]["params_trainable"] > sma["off"]["params_trainable"]
    peak_on, peak_off = sma["on"]["train_peak_mib"], sma["off"]["train_peak_mib"]
    assert sma["sma_share_of_train_memory"] == pytest.approx(1 - peak_off / peak_on)
    skipped = measure_optimizations("dinov2-hps-ew", amp="none", **TINY, only=["sma"])
    assert skipped["ablation"]["optimizations"]["sma"]["skipped"] == "the preset has no SMA block"
