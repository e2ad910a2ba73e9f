"""Tiny built datasets that follow the contract (docs/architecture.md "Built dataset") with a learnable signal.

Each frame's background colour encodes its activity (3 of the 12 MTLEndovis activities) and a
rectangle of a class-specific colour is the segmentation mask, so a tiny model's loss falls in a few
epochs. Written directly with `build_features` + a minimal `Manifest`, independent of the builder.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from schemas.labelmaps import MTLENDOVIS, LabelMap
from schemas.manifest import Manifest, ToolInfo
from schemas.records import build_features

ACTIVITY_COLORS = {0: (200, 40, 40), 3: (40, 200, 40), 10: (40, 40, 200)}  # activity id → background
CLASS_COLORS = {1: (250, 250, 250), 2: (10, 10, 10), 4: (250, 250, 0)}  # class id → rectangle colour
TINY_SIZE = (64, 80)  # label resolution (H, W) of the synthetic frames

# Overrides that make any preset train in seconds on a CPU (DINOv2 tiny config, 56x56 input).
TINY_OVERRIDES = [
    "backbone_size=tiny",
    "image_size=56",
    "batch_size=4",
    "eval_batch_size=4",
    "epochs=2",
    "num_workers=0",
    "amp=none",
    "lr=0.003",
    "seed=0",
    "arch_kwargs={head_channels: 16}",
    "weights=random",
]


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def make_frame(rng: np.random.Generator, activity: int, cls: int, size=TINY_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """RGB frame + mask: activity-coloured noisy background, one class rectangle, a strip of ignore."""
    h, w = size
    image = np.empty((h, w, 3), np.uint8)
    image[:] = ACTIVITY_COLORS[activity]
    image = np.clip(image.astype(int) + rng.integers(-15, 16, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    top, left = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    bh, bw = int(rng.integers(h // 4, h // 2)), int(rng.integers(w // 4, w // 2))
    image[top : top + bh, left : left + bw] = CLASS_COLORS[cls]
    mask[top : top + bh, left : left + bw] = cls
    mask[-2:, :] = 255  # ignored rows, as clipped borders in real builds
    return image, mask


def write_dataset(
    out: Path, labelmap: LabelMap = MTLENDOVIS, n_train: int = 16, n_test: int = 8, seed: int = 0, size=TINY_SIZE
) -> Path:
    """Write ``out/data/{train,test}-00000-of-00001.parquet`` + ``manifest.json``; return ``out``."""
    import datasets

    rng = np.random.default_rng(seed)
    acts, classes = list(ACTIVITY_COLORS), list(CLASS_COLORS)
    frames: dict[str, dict] = {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows: dict[str, list] = {k: [] for k in ("image", "mask", "activity", "frame_id", "group", "source")}
        for i in range(n):
            act, cls = acts[i % len(acts)], classes[(i // len(acts)) % len(classes)]
            image, mask = make_frame(rng, act, cls, size)
            fid = f"seq_{split}/frame{i:03d}"
            rows["image"].append({"bytes": _png(image, "RGB"), "path": None})
            rows["mask"].append({"bytes": _png(mask, "L"), "path": None})
            rows["activity"].append(act)
            rows["frame_id"].append(fid)
            rows["group"].append(f"seq_{split}")
            rows["source"].append("endovis18")
            frames[fid] = {"split": split, "activity": labelmap.activities[act]}
        ds = datasets.Dataset.from_dict(rows, features=build_features(labelmap))
        (out / "data").mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))
    manifest = Manifest(
        dataset=labelmap.dataset,
        tool=ToolInfo(version="test"),
        options={"split": "paper"},
        label_maps=labelmap.to_dict(),
        counts={},
        frames=frames,
    )
    seal(out, manifest)
    return out


def seal(out: Path, manifest: Manifest) -> None:
    """List every Parquet file's sha256 in the manifest, as `endods build` does (train/eval verify them)."""
    from schemas.hashing import sha256_file

    manifest.outputs = {f"data/{p.name}": sha256_file(p) for p in sorted((out / "data").glob("*.parquet"))}
    manifest.version = manifest.compute_version()
    (out / "manifest.json").write_text(manifest.to_json())


@pytest.fixture(scope="session", autouse=True)
def _isolated_hf_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep `datasets`' Arrow cache out of the user's home and offline."""
    cache = tmp_path_factory.mktemp("hf-cache")
    os.environ.setdefault("HF_DATASETS_CACHE", str(cache))
    os.environ["ENDODS_CACHE"] = str(tmp_path_factory.mktemp("endods-cache"))  # the decoded-sample cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # One intra-op thread: on a shared 2-core box, 2 threads oversubscribe and run ~10x slower.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16/8-frame MTLEndovis-shaped built dataset."""
    return write_dataset(tmp_path_factory.mktemp("mtlendovis") / "OUT")


@pytest.fixture(scope="session")
def tiny_gen_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same label maps under the MTLEndovis-Gen name (different frames)."""
    from schemas.labelmaps import MTLENDOVIS_GEN

    return write_dataset(tmp_path_factory.mktemp("gen") / "OUT", MTLENDOVIS_GEN, n_train=4, n_test=6, seed=5)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> tuple[Path, dict, list]:
    """A 3-epoch run of the full `endoarss` preset (tiny backbone): (RUN, summary, progress events)."""
    from endoarss.config import build_config
    from endoarss.engine.trainer import train

    run = tmp_path_factory.mktemp("runs") / "RUN"
    events: list = []
    cfg = build_config("endoarss", [*TINY_OVERRIDES, "epochs=3"])
    summary = train(cfg, tiny_dataset, run, on_progress=events.append)
    return run, summary, events
