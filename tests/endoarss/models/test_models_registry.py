"""create_model: config round trip, local from_pretrained, trainable checkpoints, typed errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Dinov2Config, Dinov2Model, ResNetConfig, ResNetModel

from endoarss.errors import CheckpointError, ConfigError
from endoarss.models import backbone_config_for, create_model

TINY = {"image_size": 56, "head_channels": 16}


def test_backbone_config_for_contract() -> None:
    assert backbone_config_for("dinov2", "tiny") == {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "patch_size": 14,
        "image_size": 56,
    }
    assert backbone_config_for("dinov2", "small")["hidden_size"] == 384
    assert backbone_config_for("resnet101", "base")["depths"] == [3, 4, 23, 3]
    assert backbone_config_for("resnet50", "base")["depths"] == [3, 4, 6, 3]
    assert backbone_config_for("resnet50", "tiny") == backbone_config_for("resnet101", "tiny")
    with pytest.raises(ConfigError, match="write backbone=resnet50"):
        backbone_config_for("resnet101", "small")  # built a ResNet-50 silently before
    with pytest.raises(ConfigError):
        backbone_config_for("vit", "tiny")


@pytest.mark.parametrize("backbone", ["dinov2", "resnet101"])
def test_from_pretrained_local_dir_gives_identical_backbone(
    backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    if backbone == "dinov2":
        cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=56)
        source = Dinov2Model(cfg)
    else:
        source = ResNetModel(ResNetConfig(**backbone_config_for("resnet101", "tiny")))
    source.save_pretrained(tmp_path / "weights")
    model = create_model(backbone, "hps", weights=str(tmp_path / "weights"), **TINY)
    loaded = model.backbone.model.state_dict()
    for name, tensor in source.state_dict().items():
        key = re.sub(r"\.(q_proj|v_proj|query|value)\.", r".\1.base.", name)  # transformers 5 / 4.x names
        assert torch.equal(loaded[key], tensor), name
    assert model.config["weights"] == str(tmp_path / "weights")
    # the recorded config rebuilds the same model from the same weights
    again = create_model(**json.loads(json.dumps(model.config)))
    frozen = {k: v for k, v in loaded.items() if "lora_" not in k}
    assert len(frozen) == len(source.state_dict())
    assert all(torch.equal(again.backbone.model.state_dict()[k], v) for k, v in frozen.items())
    bad = dict(
        model.config["backbone_config"], **({"hidden_size": 64} if backbone == "dinov2" else {"depths": [2] * 4})
    )
    with pytest.raises(ConfigError):
        create_model(backbone, "hps", weights=str(tmp_path / "weights"), backbone_config=bad)
    with pytest.raises(CheckpointError):
        create_model(backbone, "hps", weights=str(tmp_path / "missing"))


def test_trainable_state_dict_round_trip_through_safetensors(tmp_path: Path) -> None:
    cfg = backbone_config_for("dinov2", "tiny")
    torch.manual_seed(0)
    model = create_model("dinov2", "tesla", sma=True, backbone_config=cfg, **TINY)
    with torch.no_grad():
        for p in model.shared_parameters():
            p.add_(0.01)
    model.train()(torch.randn(2, 3, 56, 56))  # moves BN running stats
    state = model.trainable_state_dict()
    assert all("backbone.model." not in k or "lora" in k or "adapter" in k for k in state)
    assert any(k.endswith("running_mean") for k in state)
    save_file(state, tmp_path / "ckpt.safetensors")
    torch.manual_seed(1)
    other = create_model(**model.config)
    other.backbone.model.load_state_dict(model.backbone.model.state_dict())  # frozen part: from weights
    other.load_trainable_state_dict(load_file(tmp_path / "ckpt.safetensors"))
    images = torch.randn(2, 3, 56, 56)
    model.eval(), other.eval()
    with torch.no_grad():
        a, b = model(images), other(images)
    assert all(torch.equal(a[t], b[t]) for t in a)
    with pytest.raises(CheckpointError):
        other.load_trainable_state_dict({k: v for k, v in state.items() if "heads" not in k})
    first = next(iter(state))
    with pytest.raises(CheckpointError):
        other.load_trainable_state_dict({**state, first: torch.zeros(1)})


def test_invalid_options_raise_config_error() -> None:
    cfg = backbone_config_for("dinov2", "tiny")
    for kwargs in (
        {"arch": "cross_stitch"},
        {"backbone": "vit"},
        {"arch": "single"},  # two tasks
        {"tasks": ("depth",)},
        {"backbone": "resnet101", "sma": True, "backbone_config": backbone_config_for("resnet101", "tiny")},
        {"k": 3},  # DSelect-k option on HPS
        {"rank": 0},
    ):
        with pytest.raises(ConfigError):
            create_model(**{"backbone_config": cfg, **kwargs})
    model = create_model("dinov2", "hps", backbone_config=cfg, **TINY)
    with pytest.raises(ConfigError):
        model(torch.randn(1, 3, 50, 56))


def test_gradient_checkpointing_and_channels_last_give_same_result() -> None:
    cfg = backbone_config_for("dinov2", "tiny")
    images = torch.randn(2, 3, 56, 56)
    results = []
    for opts in ({}, {"gradient_checkpointing": True}):
        torch.manual_seed(0)
        model = create_model("dinov2", "tesla", backbone_config=cfg, **TINY, **opts).eval()
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "adapter_B" in n:
                    p.normal_(0, 0.1)
        model.train()  # checkpointing is active in training mode only
        model.heads.eval()  # keep BN/dropout deterministic
        out = model(images)
        (out["activity"].sum() + out["segmentation"].mean()).backward()
        results.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (o1, g1), (o2, g2) = results
    assert all(torch.allclose(o1[t], o2[t]) for t in o1) and g1.keys() == g2.keys()
    assert all(torch.allclose(g1[n], g2[n], atol=1e-6) for n in g1)
    model = create_model("dinov2", "hps", backbone_config=cfg, **TINY).eval()
    with torch.no_grad():
        ref = model(images)
        out = model.to(memory_format=torch.channels_last)(images.to(memory_format=torch.channels_last))
    assert all(torch.allclose(ref[t], out[t], atol=1e-5) for t in ref)


def test_resnet_backbone_matches_transformers_and_checkpoints() -> None:
    cfg = backbone_config_for("resnet101", "tiny")
    images = torch.randn(2, 3, 64, 64)
    torch.manual_seed(0)
    plain = create_model("resnet101", "hps", backbone_config=cfg, head_channels=16).eval()
    with torch.no_grad():
        expected = plain.backbone.model(images).last_hidden_state
        assert torch.equal(plain.backbone(images), expected)
    torch.manual_seed(0)
    ckpt = create_model("resnet101", "hps", backbone_config=cfg, head_channels=16, gradient_checkpointing=True)
    grads = []
    for model in (plain, ckpt):
        model.train()
        model.backbone.eval()  # BN running stats: both runs see identical normalisation
        model.heads.eval()
        model(images)["segmentation"].mean().backward()
        grads.append(model.backbone.model.embedder.embedder.convolution.weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6) and grads[0].abs().sum() > 0


def test_create_model_is_a_registry_lookup() -> None:
    """Every ARCHS entry builds its model class on both backbone families, recording the arch's own options."""
    from endoarss.models import archs
    from endoarss.models.registry import ARCHS, BACKBONES

    families = {spec.family: name for name, spec in BACKBONES.items()}
    assert set(families) == {"dinov2", "resnet"}
    for arch, spec in ARCHS.items():
        tasks = ("segmentation",) if spec.single_task else ("activity", "segmentation")
        opts = {k: v for k, v in {"num_experts": 2, "k": 1}.items() if k in spec.options}
        for backbone in families.values():
            model = create_model(
                backbone, arch, tasks, backbone_config=backbone_config_for(backbone, "tiny"), **TINY, **opts
            )
            assert type(model) is getattr(archs, spec.model), (arch, backbone)
            assert model.config["arch"] == arch and set(spec.options) <= set(model.config)
    with pytest.raises(ConfigError, match=r"unknown arch 'cross_stitch'; expected one of \['hps', 'tesla'"):
        create_model("dinov2", "cross_stitch")
    with pytest.raises(ConfigError, match=r"unknown backbone 'vit'; expected one of \['dinov2', 'resnet50'"):
        create_model("vit", "hps")
