"""Backbone weights: preset default on the Hub, local folder, fake Hub cache offline, random; no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from transformers import Dinov2Config, Dinov2Model

from endoarss.errors import CheckpointError, ConfigError
from endoarss.models import backbone_config_for
from endoarss.models.backbones import _dino_config
from endoarss.models.weights import default_weights, resolve_weights

SHA = "0123456789abcdef0123456789abcdef01234567"


def _tiny_dino(folder: Path) -> Dinov2Model:
    model = Dinov2Model(_dino_config(backbone_config_for("dinov2", "tiny"), "sdpa"))
    model.save_pretrained(folder)
    return model


def fake_hub_cache(root: Path, repo_id: str, sha: str = SHA) -> Path:
    """A Hub cache laid out as huggingface_hub lays it out: refs/main -> snapshots/<sha>/files."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    _tiny_dino(repo / "snapshots" / sha)
    return repo / "snapshots" / sha


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf" / "hub"


def test_presets_name_the_papers_checkpoints() -> None:
    assert default_weights("dinov2", "base") == "facebook/dinov2-base"
    assert default_weights("dinov2", "small") == "facebook/dinov2-small"
    assert default_weights("dinov2", "large") == "facebook/dinov2-large"
    assert default_weights("resnet101", "base") == "microsoft/resnet-101"
    assert default_weights("resnet50", "base") == "microsoft/resnet-50"
    assert default_weights("dinov2", "tiny") is None
    assert default_weights("resnet101", "tiny") is None
    # the depth is in a ResNet's name: resnet101 + small used to mean a ResNet-50 with random weights only
    with pytest.raises(ConfigError, match="write backbone=resnet50"):
        default_weights("resnet101", "small")
    with pytest.raises(ConfigError, match="weights=random"):
        resolve_weights(None, "dinov2", "tiny")


def test_random_and_local_folder(tmp_path: Path) -> None:
    random = resolve_weights("random", "dinov2", "base")
    assert (random.source, random.path, random.spec) == ("random", None, "random")
    assert random.warning() is not None and "random" in random.warning()
    _tiny_dino(tmp_path / "w")
    local = resolve_weights(str(tmp_path / "w"), "dinov2", "base")
    assert (local.source, local.path, local.spec, local.warning()) == (
        "local",
        str(tmp_path / "w"),
        str(tmp_path / "w"),
        None,
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        resolve_weights(str(tmp_path / "empty"), "dinov2", "base")


def test_offline_without_cache_fails_with_the_three_ways_out(offline_hub: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        resolve_weights(None, "dinov2", "base")
    message = str(info.value)
    assert "facebook/dinov2-base" in message and "HF_HUB_OFFLINE" in message
    for way in (
        "hf download facebook/dinov2-base",
        "huggingface-cli download facebook/dinov2-base",
        "weights=DIR",
        "weights=random",
    ):
        assert way in message, way


def test_fake_hub_cache_resolves_offline_and_pins_the_revision(offline_hub: Path) -> None:
    snapshot = fake_hub_cache(offline_hub, "facebook/dinov2-base")
    resolved = resolve_weights(None, "dinov2", "base")
    assert (resolved.source, resolved.repo_id, resolved.revision) == ("hub", "facebook/dinov2-base", SHA)
    assert resolved.spec == f"facebook/dinov2-base@{SHA}" and Path(resolved.path) == snapshot
    again = resolve_weights(resolved.spec, "dinov2", "base")  # what eval/predict do with the recorded spec
    assert again.path == resolved.path
    assert isinstance(Dinov2Model.from_pretrained(resolved.path).config, Dinov2Config)
    with pytest.raises(CheckpointError, match="not in the Hub cache"):
        resolve_weights("facebook/dinov2-base@" + "f" * 40, "dinov2", "base")
    shutil.rmtree(offline_hub)
    with pytest.raises(CheckpointError, match="not in the Hub cache"):
        resolve_weights(resolved.spec, "dinov2", "base")
