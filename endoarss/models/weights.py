"""Which backbone weights a run uses: the preset's Hub checkpoint, a local folder, or ``random``.

``weights`` (TrainConfig) is one of
  * None — the backbone's checkpoint in ``endoarss.models.registry.BACKBONES``:
    ``facebook/dinov2-{small,base,large}`` by ``backbone_size`` for DINOv2, ``microsoft/resnet-50`` /
    ``microsoft/resnet-101`` for ResNet-50 / ResNet-101 (the paper's pretrained backbones);
  * a Hub id ``ORG/NAME``, optionally pinned as ``ORG/NAME@REVISION``;
  * a local ``save_pretrained`` folder;
  * ``random`` — a randomly initialised backbone (tests, the demo, benchmarks).

Hub checkpoints go through huggingface_hub's cache (``HF_HOME`` / ``HF_HUB_CACHE``, read when
resolving so a changed environment counts) and honour ``HF_HUB_OFFLINE``: a cached snapshot is used
without any network call; otherwise it is downloaded unless offline. Resolution pins the commit sha,
so a RUN folder records ``ORG/NAME@sha`` and ``eval``/``predict`` elsewhere load the same weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from endoarss.data.source import is_hub_id
from endoarss.errors import CheckpointError, ConfigError
from endoarss.models.registry import backbone_spec, check_backbone_size

RANDOM = "random"
# Only the files from_pretrained needs (not the TF/Flax/ONNX copies some repos carry).
_PATTERNS = ["*.json", "*.safetensors"]


@dataclass(frozen=True)
class BackboneWeights:
    """A resolved ``weights`` value. ``path`` is the folder to load (None for random)."""

    source: str  # "hub", "local" or "random"
    spec: str  # what the RUN folder records: "ORG/NAME@sha", the local folder, or "random"
    path: str | None = None
    repo_id: str | None = None
    revision: str | None = None

    def describe(self) -> str:
        """One line for the CLI: which backbone weights are used."""
        if self.source == "hub":
            return f"backbone weights: {self.repo_id} (revision {self.revision}) from {self.path}"
        if self.source == "local":
            return f"backbone weights: local folder {self.path}"
        return "backbone weights: random initialisation (nothing pretrained)"

    def warning(self) -> str | None:
        """Set for a random backbone: every preset is meant to start from pretrained weights."""
        if self.source != "random":
            return None
        return (
            "the backbone is randomly initialised (weights=random): the presets are meant to start from "
            "pretrained weights, so metrics are not comparable with the paper's; drop weights=random to use them"
        )

    def to_json(self) -> dict[str, str | None]:
        keys = ("source", "spec", "repo_id", "revision", "path")
        return {**{k: getattr(self, k) for k in keys}, "warning": self.warning()}


def default_weights(backbone: str, backbone_size: str) -> str | None:
    """The Hub checkpoint of ``backbone`` at ``backbone_size``; None where there is none (tiny).

    ConfigError for a size the backbone does not have (e.g. ``resnet101`` + ``small``: write ``resnet50``).
    """
    check_backbone_size(backbone, backbone_size)
    return backbone_spec(backbone).checkpoints.get(backbone_size)


def resolve_weights(weights: str | None, backbone: str, backbone_size: str) -> BackboneWeights:
    """Resolve a ``weights`` value to a local folder (downloading into the Hub cache if allowed).

    Raises CheckpointError naming the id and the ways out when a Hub checkpoint is neither cached nor
    downloadable, ConfigError when ``weights`` is unset and the size has no published checkpoint.
    """
    if weights == RANDOM:
        return BackboneWeights("random", RANDOM)
    if weights is None:
        weights = default_weights(backbone, backbone_size)
        if weights is None:
            raise ConfigError(
                f"backbone_size={backbone_size!r} has no pretrained {backbone} checkpoint on the Hub; "
                "pass weights=random (or weights=DIR with a save_pretrained folder)"
            )
    if Path(weights).exists():
        if not Path(weights).is_dir() or not (Path(weights) / "config.json").is_file():
            raise CheckpointError(f"weights {weights}: not a save_pretrained folder (no config.json in it)")
        return BackboneWeights("local", str(weights), path=str(weights))
    repo_id, _, revision = weights.partition("@")
    if not is_hub_id(repo_id):
        raise CheckpointError(
            f"weights {weights}: no such folder, and not a Hub model id ORG/NAME; give a save_pretrained "
            f"folder, a Hub id, or weights=random"
        )
    folder = _snapshot(repo_id, revision or None)
    return BackboneWeights("hub", f"{repo_id}@{Path(folder).name}", folder, repo_id, Path(folder).name)


def hub_cache_dir() -> str:
    """The Hub cache folder as the environment says now: HF_HUB_CACHE, else HF_HOME/hub, else the default."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return constants.HF_HUB_CACHE


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    return constants.HF_HUB_OFFLINE if value is None else value.strip().upper() in ("1", "ON", "YES", "TRUE")


def _snapshot(repo_id: str, revision: str | None) -> str:
    """Local snapshot folder of ``repo_id`` (cache first, then the network unless offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    cache = hub_cache_dir()
    try:
        return snapshot_download(
            repo_id, revision=revision, cache_dir=cache, allow_patterns=_PATTERNS, local_files_only=True
        )
    except (LocalEntryNotFoundError, FileNotFoundError):
        pass
    why = "HF_HUB_OFFLINE is set" if _offline() else None
    if why is None:
        try:
            return snapshot_download(repo_id, revision=revision, cache_dir=cache, allow_patterns=_PATTERNS)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as err:
            why = f"download failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    raise CheckpointError(
        f"backbone weights {repo_id}{'@' + revision if revision else ''} are not in the Hub cache {cache} and "
        f"cannot be downloaded ({why}). Either download them (`hf download {repo_id}` or "
        f"`huggingface-cli download {repo_id}`), or pass weights=DIR with a save_pretrained folder, "
        f"or weights=random for a randomly initialised backbone"
    )
