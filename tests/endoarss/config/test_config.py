"""TrainConfig, presets (paper table rows), key=value overrides, YAML round trip."""

from __future__ import annotations

import pytest

from endoarss.config import PRESETS, WEIGHTINGS, TrainConfig, apply_overrides, build_config, parse_overrides
from endoarss.errors import ConfigError


def test_endoarss_preset_is_the_full_method() -> None:
    cfg = build_config("endoarss")
    assert (cfg.backbone, cfg.arch, cfg.sma, cfg.weighting) == ("dinov2", "tesla", True, "db_mtl")
    assert cfg.tasks == ("activity", "segmentation")
    assert PRESETS["endoarss"] == PRESETS["endoarss-db_mtl"]
    # release defaults: batch 16, Adam wd 1e-4, StepLR(100, 0.5), 224 px
    assert (cfg.batch_size, cfg.weight_decay, cfg.scheduler, cfg.step_size, cfg.gamma) == (16, 1e-4, "step", 100, 0.5)
    assert cfg.image_size == (224, 224) and cfg.epochs == 200


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("endoarss-stch", ("dinov2", "tesla", True, "stch")),
        ("dinov2-tesla-ew", ("dinov2", "tesla", False, "ew")),
        ("dinov2-hps-moco", ("dinov2", "hps", False, "moco")),
        ("dinov2-mmoe-aligned_mtl", ("dinov2", "mmoe", False, "aligned_mtl")),
        ("dinov2-dselect_k-db_mtl", ("dinov2", "dselect_k", False, "db_mtl")),
        ("resnet101-mmoe-ew", ("resnet101", "mmoe", False, "ew")),
        ("resnet101-dselect_k-stch", ("resnet101", "dselect_k", False, "stch")),
    ],
)
def test_presets_resolve(name: str, expected: tuple) -> None:
    cfg = build_config(name)
    assert (cfg.backbone, cfg.arch, cfg.sma, cfg.weighting) == expected
    assert cfg.preset == name


def test_every_table_row_exists_and_validates() -> None:
    for w in WEIGHTINGS:
        for prefix in (
            "endoarss",
            "dinov2-tesla",
            "dinov2-hps",
            "dinov2-mmoe",
            "dinov2-dselect_k",
            "resnet101-mmoe",
            "resnet101-dselect_k",
        ):
            assert f"{prefix}-{w}" in PRESETS
    for name in PRESETS:
        build_config(name)  # validates


def test_single_task_presets() -> None:
    seg, cls = build_config("seg-only"), build_config("cls-only")
    assert seg.tasks == ("segmentation",) and seg.arch == "single"
    assert cls.tasks == ("activity",) and cls.arch == "single"
    assert seg.resolved("mtlendovis").best_metric == "miou"
    assert cls.resolved("mtlendovis").best_metric == "ac"


def test_lr_depends_on_dataset_unless_given() -> None:
    cfg = build_config("endoarss")
    assert cfg.lr is None
    assert cfg.resolved("mtlendovis").lr == 1e-3
    assert cfg.resolved("mtlendovis-gen").lr == 1e-3
    assert cfg.resolved("mtlesd").lr == 1e-4
    assert build_config("endoarss", ["lr=5e-4"]).resolved("mtlesd").lr == 5e-4


def test_overrides_are_typed() -> None:
    cfg = build_config(
        "endoarss",
        [
            "lr=1e-4",
            "image_size=56",
            "epochs=3",
            "sma=false",
            "tasks=activity,segmentation",
            "weighting_kwargs.beta=0.5",
            "backbone_config={hidden_size: 32}",
            "scale_range=[1.0, 1.2]",
        ],
    )
    assert cfg.lr == 1e-4 and isinstance(cfg.lr, float)
    assert cfg.image_size == (56, 56)
    assert cfg.epochs == 3 and cfg.sma is False
    assert cfg.weighting_kwargs == {"beta": 0.5}
    assert cfg.backbone_config == {"hidden_size": 32}
    assert cfg.scale_range == (1.0, 1.2)
    assert build_config("endoarss", ["image_size=[70, 84]"]).image_size == (70, 84)
    assert build_config("endoarss", {"lr": 2}).lr == 2.0


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'learning_rate'.*valid keys.*'lr'"):
        build_config("endoarss", ["learning_rate=0.1"])
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*endoarss"):
        build_config("nope")
    with pytest.raises(ConfigError, match=r"unknown config key 'epoch'; did you mean 'epochs'\? valid keys"):
        build_config("endoarss", ["epoch=1"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=abc", "epochs='abc' is not a valid int"),
        ("epochs=true", "epochs=True is not a valid int"),
        ("lr=false", "lr=False is not a valid float"),
        ("epochs=2.5", "epochs=2.5 is not a valid int"),
        ("sma=maybe", "sma='maybe' is not a valid bool"),
        ("weighting=gradnorm", "weighting='gradnorm' is not one of"),
        ("image_size=50", "multiples of 14"),
        ("batch_size=0", "batch_size must be >= 1"),
        ("tasks=depth", "tasks must be a non-empty subset"),
        ("novalue", "not key=value"),
        ("lr.x=1", "'lr' is not a dict field"),
        ("best_metric=accuracy", "best_metric='accuracy' is not one of"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config("endoarss", [override])


def test_inconsistent_combinations() -> None:
    with pytest.raises(ConfigError, match="sma"):
        build_config("resnet101-tesla-ew", ["sma=true"])
    with pytest.raises(ConfigError, match="single"):
        build_config("endoarss", ["tasks=segmentation"])


def test_dict_overrides_merge() -> None:
    base = build_config("endoarss", ["weighting_kwargs.beta=0.5"])
    merged = apply_overrides(base, ["weighting_kwargs.beta_sigma=0.1"])
    assert merged.weighting_kwargs == {"beta": 0.5, "beta_sigma": 0.1}
    assert parse_overrides(["arch_kwargs.k=1", "arch_kwargs.router=task"]) == {
        "arch_kwargs": {"k": 1, "router": "task"}
    }


def test_yaml_round_trip(tmp_path) -> None:
    cfg = build_config("dinov2-mmoe-moco", ["image_size=[70, 84]", "arch_kwargs={num_experts: 2}"]).resolved("mtlesd")
    path = tmp_path / "config.yaml"
    path.write_text(cfg.to_yaml())
    loaded = TrainConfig.load(path)
    assert loaded == cfg
    assert loaded.image_size == (70, 84) and loaded.lr == 1e-4 and loaded.arch_kwargs == {"num_experts": 2}


def test_yaml_with_unknown_key_is_rejected(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("epochs: 3\nfoo: 1\n")
    with pytest.raises(ConfigError, match=r"config.yaml: unknown config key 'foo'; valid keys"):
        TrainConfig.load(path)


def test_preset_is_not_an_override() -> None:
    """`preset=x` used to be stored in config.yaml while the default preset's fields were trained."""
    with pytest.raises(
        ConfigError, match=r"preset='seg-only' is not an override; choose a preset with --preset seg-only"
    ):
        build_config("endoarss", ["preset=seg-only"])
    with pytest.raises(ConfigError, match="--preset"):
        apply_overrides(build_config("endoarss"), {"preset": "cls-only"})


# config.yaml of this config as the hand-written dataclass wrote it before the pydantic model (commit a003f25):
# RUN folders made then must load back equal and be rewritten byte for byte.
PRE_PYDANTIC_YAML = """\
preset: dinov2-mmoe-moco
backbone: dinov2
backbone_size: base
backbone_config: null
weights: null
arch: mmoe
sma: false
sma_dim: 16
rank: 4
arch_kwargs:
  num_experts: 2
tasks:
- activity
- segmentation
weighting: moco
weighting_kwargs:
  beta: 0.5
image_size:
- 70
- 84
augment: true
hflip: true
scale_range:
- 1.0
- 1.5
color_jitter: 0.2
num_workers: 4
eval_split: test
cache: 'off'
verify: true
batch_size: 16
eval_batch_size: 16
epochs: 200
lr: 0.0001
weight_decay: 0.0001
scheduler: step
step_size: 100
gamma: 0.5
seed: 42
amp: bf16
best_metric: miou
eval_every: 1
checkpoint_every: 0
max_steps: 0
"""


def test_config_yaml_is_byte_identical_to_the_pre_pydantic_format(tmp_path) -> None:
    overrides = ["image_size=[70, 84]", "arch_kwargs={num_experts: 2}", "cache=off", "weighting_kwargs.beta=0.5"]
    cfg = build_config("dinov2-mmoe-moco", overrides).resolved("mtlesd")
    assert cfg.to_yaml() == PRE_PYDANTIC_YAML
    path = tmp_path / "config.yaml"
    path.write_text(PRE_PYDANTIC_YAML)
    loaded = TrainConfig.load(path)
    assert loaded == cfg and loaded.tasks == ("activity", "segmentation") and loaded.cache == "off"
    assert loaded.to_yaml() == PRE_PYDANTIC_YAML


def test_errors_are_one_clean_line_per_problem(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("epochs: 0\nbackbone: vit\namp: fp32\nsma: 'yes'\n")
    with pytest.raises(ConfigError) as caught:
        TrainConfig.load(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: "
    assert sorted(line.strip() for line in lines[1:]) == [
        "amp='fp32' is not one of ['bf16', 'fp16', 'none']",
        "backbone='vit' is not one of ['dinov2', 'resnet50', 'resnet101']",
        "epochs must be >= 1, got 0",
        "sma='yes' is not a valid bool",
    ]
    assert "pydantic" not in str(caught.value) and "http" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"^config: unknown config key 'epoch'; did you mean 'epochs'\?"):
        TrainConfig(epoch=3)


def test_choices_come_from_the_registries() -> None:
    from endoarss.config.choices import AMP_MODES, BEST_METRICS, SCHEDULERS
    from endoarss.models.registry import ARCHS, BACKBONES

    for backbone in BACKBONES:
        assert build_config("dinov2-hps-ew", [f"backbone={backbone}", "sma=false"]).backbone == backbone
    for arch, spec in ARCHS.items():
        tasks = "segmentation" if spec.single_task else "activity,segmentation"
        assert build_config("dinov2-hps-ew", [f"arch={arch}", f"tasks={tasks}"]).arch == arch
    for key, values in (("amp", AMP_MODES), ("scheduler", SCHEDULERS), ("best_metric", BEST_METRICS)):
        for value in values:
            assert getattr(build_config("endoarss", [f"{key}={value}"]), key) == value
    assert set(WEIGHTINGS) == {build_config(f"endoarss-{w}").weighting for w in WEIGHTINGS}


def test_cache_switch_accepts_yaml_booleans() -> None:
    assert build_config("endoarss", ["cache=off"]).cache == "off"
    assert build_config("endoarss", ["cache=on"]).cache == "auto"
    assert build_config("endoarss", ["cache=/tmp/x"]).cache == "/tmp/x"
    with pytest.raises(ConfigError, match="cache must be auto, off or a folder"):
        build_config("endoarss", {"cache": "  "})


def test_resnet_depth_is_in_the_backbone_name() -> None:
    assert build_config("resnet101-hps-ew").backbone_size == "base"
    assert build_config("resnet101-hps-ew", ["backbone=resnet50"]).backbone == "resnet50"
    assert build_config("resnet101-hps-ew", ["backbone_size=tiny"]).backbone_size == "tiny"  # random test shape
    with pytest.raises(ConfigError, match="backbone=resnet101 takes no backbone_size='small'.*write backbone=resnet50"):
        build_config("resnet101-hps-ew", ["backbone_size=small"])
    with pytest.raises(ConfigError, match="backbone_size='large'"):
        build_config("resnet101-hps-ew", ["backbone=resnet50", "backbone_size=large"])
    assert build_config("endoarss", ["backbone_size=large"]).backbone_size == "large"  # DINOv2 keeps its sizes


def test_old_run_with_resnet101_small_fails_naming_the_fix(tmp_path) -> None:
    """Such a RUN built a ResNet-50 with weights=random but a ResNet-101 with pretrained weights: no safe alias."""
    path = tmp_path / "config.yaml"
    data = build_config("resnet101-hps-ew").to_yaml().replace("backbone_size: base", "backbone_size: small")
    path.write_text(data)
    with pytest.raises(ConfigError, match=r"write backbone=resnet50 and drop backbone_size"):
        TrainConfig.load(path)


def test_copies_with_model_copy_keep_the_other_fields() -> None:
    cfg = build_config("endoarss", ["epochs=3"])
    copy = cfg.model_copy(update={"weights": "random"})
    assert copy.weights == "random" and copy.epochs == 3 and cfg.weights is None
