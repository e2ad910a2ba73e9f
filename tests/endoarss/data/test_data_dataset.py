"""endoarss.data.dataset / endoarss.data.augment: reading a built dataset, aligned augmentations, determinism."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from endoarss.data.augment import (
    AugmentDraw,
    AugmentParams,
    apply_geometry,
    jitter_colors,
    resize_mask,
    train_transform,
)
from endoarss.data.dataset import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataError,
    EpochSampler,
    SegActDataset,
    collate,
    decode_cell,
    make_loader,
    normalize,
    open_split,
    usable_workers,
)
from endoarss.data.source import is_hub_id
from schemas.labelmaps import MTLENDOVIS

# A 4-class picture whose mask is a function of the pixel colour: lets us check alignment after transforms.
PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def _blocks(h: int = 60, w: int = 90) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((h, w), np.uint8)
    mask[5:30, 10:40] = 1  # asymmetric layout so a flip is visible
    mask[35:55, 50:85] = 2
    mask[10:20, 60:70] = 3
    return PALETTE[mask], mask


def _class_of(image: np.ndarray) -> np.ndarray:
    dist = ((image[:, :, None, :].astype(int) - PALETTE[None, None].astype(int)) ** 2).sum(-1)
    return dist.argmin(-1).astype(np.uint8)


def test_geometry_keeps_image_and_mask_aligned_exactly() -> None:
    image, mask = _blocks()
    draw = AugmentDraw(flip=True, crop=(4, 7, 40, 70))
    im2, m2 = apply_geometry(image, mask, draw)
    assert m2.shape == (40, 70) and im2.shape == (40, 70, 3)
    np.testing.assert_array_equal(_class_of(im2), m2)
    np.testing.assert_array_equal(m2, mask[4:44, 7:77][:, ::-1])


def test_random_train_transform_stays_aligned() -> None:
    image, mask = _blocks()
    params = AugmentParams(hflip=True, scale_range=(1.0, 1.5), color_jitter=0.0)
    flipped = 0
    for seed in range(12):
        im2, m2 = train_transform(image, mask, (56, 56), params, np.random.default_rng(seed))
        assert im2.shape == (56, 56, 3) and m2.shape == (56, 56)
        assert set(np.unique(m2)) <= {0, 1, 2, 3}  # nearest: no blended ids
        agree = (_class_of(im2) == m2).mean()
        assert agree > 0.95, (seed, agree)  # only bilinear block edges may disagree
        # class 1 sits left in the source: after a flip its centre of mass is right of class 3's
        xs1 = np.nonzero(m2 == 1)[1].mean()
        flipped += xs1 > 28
    assert 0 < flipped < 12  # flips happen, not always


def test_colour_jitter_changes_image_only() -> None:
    image, mask = _blocks()
    rng = np.random.default_rng(3)
    params = AugmentParams(hflip=False, scale_range=(1.0, 1.0), color_jitter=0.4)
    im2, m2 = train_transform(image, mask, (60, 90), params, rng)
    np.testing.assert_array_equal(m2, mask)
    assert not np.array_equal(im2, image)
    draw = AugmentDraw(False, (0, 0, 60, 90), brightness=0.5)
    np.testing.assert_array_equal(jitter_colors(image, draw)[6, 11], [128, 0, 0])  # 255 * 0.5 rounded


def test_resize_mask_is_nearest() -> None:
    mask = np.array([[0, 255], [3, 7]], np.uint8)
    np.testing.assert_array_equal(resize_mask(mask, (4, 4)), np.kron(mask, np.ones((2, 2), np.uint8)))


def test_open_split_reads_contract(tiny_dataset: Path) -> None:
    train, test = open_split(tiny_dataset, "train"), open_split(tiny_dataset, "test")
    assert (len(train), len(test)) == (16, 8)
    assert train.labelmap.to_dict() == MTLENDOVIS.to_dict() and train.dataset == "mtlendovis"
    ds = SegActDataset(test, (56, 56), train=False)
    item = ds[5]
    assert item["image"].shape == (3, 56, 56) and item["image"].dtype == torch.uint8
    assert item["label_mask"].shape == (64, 80)  # label resolution, untouched
    # conftest: frame i has activity ids[i % 3] (5 → 10) and class ids[(i // 3) % 3] (5 → 2)
    assert item["frame_id"] == "seq_test/frame005" and item["activity"] == 10
    assert set(np.unique(item["label_mask"]).tolist()) == {0, 2, 255}


def test_missing_split_and_manifest(tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data/validation-"):
        open_split(tiny_dataset, "validation")
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(DataError, match="no manifest.json"):
        open_split(copy, "train")
    with pytest.raises(DataError, match="Hub"):
        open_split("no-such-org/no-such-dataset", "train")


def test_activity_names_must_match_manifest(tiny_dataset: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["label_maps"]["activities"][0] = "burning"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="differ from manifest"):
        open_split(copy, "train")


def test_train_items_are_deterministic_per_seed_epoch_index(tiny_dataset: Path) -> None:
    split = open_split(tiny_dataset, "train")
    ds = SegActDataset(split, (56, 56), True, AugmentParams(), seed=7)
    a, b, c = ds[(3, 1)], ds[(3, 1)], ds[(3, 2)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(a["image"], c["image"])
    assert a["mask"].dtype == torch.uint8 and a["mask"].shape == (56, 56)  # uint8 across workers


def test_epoch_sampler_order() -> None:
    s = EpochSampler(10, seed=3, shuffle=True)
    first = list(s)
    assert sorted(i for i, _ in first) == list(range(10)) and {e for _, e in first} == {0}
    assert list(s) == first
    s.set_epoch(1)
    assert [i for i, _ in s] != [i for i, _ in first]
    assert [i for i, _ in EpochSampler(4, 0, shuffle=False)] == [0, 1, 2, 3]


def test_workers_decode_identically(tiny_dataset: Path) -> None:
    split = open_split(tiny_dataset, "test")
    ds = SegActDataset(split, (56, 56), train=False)
    b0 = next(iter(make_loader(ds, 4, False, 0, 0, False)))
    b2 = next(iter(make_loader(ds, 4, False, 0, 2, False)))
    assert torch.equal(b0["image"], b2["image"]) and b0["frame_id"] == b2["frame_id"]
    assert all(np.array_equal(x, y) for x, y in zip(b0["label_masks"], b2["label_masks"], strict=True))


def test_collate_keeps_variable_size_masks() -> None:
    items = [
        {
            "image": torch.zeros(3, 4, 4, dtype=torch.uint8),
            "activity": 1,
            "frame_id": "a",
            "label_mask": np.zeros((5, 6)),
        },
        {
            "image": torch.zeros(3, 4, 4, dtype=torch.uint8),
            "activity": 2,
            "frame_id": "b",
            "label_mask": np.zeros((7, 3)),
        },
    ]
    batch = collate(items)
    assert batch["image"].shape == (2, 3, 4, 4) and batch["activity"].tolist() == [1, 2]
    assert [m.shape for m in batch["label_masks"]] == [(5, 6), (7, 3)]


def test_normalize_is_imagenet() -> None:
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    y = normalize(x)
    for c in range(3):
        assert y[0, c, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c], rel=1e-6)
        assert y[0, c, 0, 1].item() == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], rel=1e-6)


def test_reads_a_dataset_from_the_real_builder(built_mtlendovis: Path) -> None:
    split = open_split(built_mtlendovis, "train")
    assert split.labelmap.activities == MTLENDOVIS.activities and len(split) > 0
    item = SegActDataset(split, (56, 56), True, AugmentParams(), seed=0)[(0, 0)]
    assert item["image"].shape == (3, 56, 56)
    assert int(item["mask"].max()) <= 255 and int(item["mask"][item["mask"] != 255].max()) < MTLENDOVIS.num_classes


@pytest.mark.parametrize("with_manifest", [True, False])
def test_hub_id_path(tiny_dataset: Path, monkeypatch, with_manifest: bool) -> None:
    """A Hub id loads through `datasets.load_dataset(id)`; label map from the repo's manifest, else ClassLabel."""
    import datasets
    import huggingface_hub

    real_load = datasets.load_dataset
    calls = []

    def fake_load(path, *args, split=None, **kwargs):
        if path == "org/mtlendovis":
            calls.append(split)
            files = {split: str(tiny_dataset / "data" / f"{split}-00000-of-00001.parquet")}
            return real_load("parquet", data_files=files, split=split)
        return real_load(path, *args, split=split, **kwargs)

    def fake_download(repo_id, filename, repo_type=None, **kwargs):
        assert (repo_id, filename, repo_type) == ("org/mtlendovis", "manifest.json", "dataset")
        if not with_manifest:
            raise OSError("404")
        return str(tiny_dataset / "manifest.json")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    split = open_split("org/mtlendovis", "test")
    assert calls == ["test"] and len(split) == 8 and split.dataset == "mtlendovis"
    assert split.labelmap.to_dict() == MTLENDOVIS.to_dict()


@pytest.mark.parametrize("source", ["mtlendovs", "./nosuch", "/nonexistent/OUT", "a/b/c", "~/OUT", ".x/y", "org/"])
def test_a_missing_local_dataset_fails_at_once_without_the_hub(source: str, monkeypatch) -> None:
    """Only ORG/NAME goes to the Hub; a mistyped folder used to spend ~1 min in Hub retries."""
    import datasets
    import huggingface_hub

    calls = []

    def no_hub(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the Hub must not be asked")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)
    with pytest.raises(DataError, match=f"^{re.escape(source)}: no such dataset folder .*Hub dataset id ORG/NAME"):
        open_split(source, "train")
    assert calls == []


def test_hub_id_shape(tmp_path: Path, monkeypatch) -> None:
    assert is_hub_id("org/mtlendovis") and is_hub_id("my-org/data_set.v2")
    for text in ("mtlendovis", "./org/name", "/org/name", "~/name", "org/name/x", ".org/name", "org/.name", "a b/c"):
        assert not is_hub_id(text), text
    from endoarss.data.dataset import dataset_is_local

    monkeypatch.chdir(tmp_path)
    assert dataset_is_local("org/name") is False  # not on disk: the Hub is tried
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert dataset_is_local("org/name") is True  # an existing folder wins over the Hub


def test_workers_are_capped_at_the_cpus_and_do_not_change_batches(tiny_dataset: Path, monkeypatch) -> None:
    """4 workers on a 1-CPU box: torch warned "suggested max number of worker ... is 1"; now 1 worker runs."""
    import warnings

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert [usable_workers(n) for n in (0, 1, 4)] == [0, 1, 1]
    ds = SegActDataset(open_split(tiny_dataset, "train"), (56, 56), True, AugmentParams(), seed=3)
    capped = make_loader(ds, 4, True, 3, 4, True)
    assert capped.num_workers == 1
    capped.sampler.set_epoch(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(capped)
    assert not [w for w in caught if "worker" in str(w.message)], [str(w.message) for w in caught]
    plain = make_loader(ds, 4, True, 3, 0, True)
    plain.sampler.set_epoch(2)
    for a, b in zip(batches, plain, strict=True):  # same order and augmentation whatever the worker count
        assert (
            a["frame_id"] == b["frame_id"] and torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
        )


@pytest.mark.parametrize(
    ("array", "flags"),
    [
        (np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8), cv2.IMREAD_COLOR),  # RGB: fast path
        (np.random.default_rng(1).integers(0, 256, (9, 7), dtype=np.uint8), cv2.IMREAD_GRAYSCALE),  # grey: fast path
        (np.random.default_rng(2).integers(0, 256, (9, 7, 4), dtype=np.uint8), cv2.IMREAD_COLOR),  # RGBA: flags
        (np.random.default_rng(3).integers(0, 256, (9, 7), dtype=np.uint8), cv2.IMREAD_COLOR),  # grey as colour
        (np.random.default_rng(4).integers(0, 65535, (9, 7, 3), dtype=np.uint16), cv2.IMREAD_COLOR),  # 16-bit
    ],
)
def test_decode_cell_equals_plain_imdecode(array: np.ndarray, flags: int) -> None:
    """The IMREAD_UNCHANGED shortcut for plain 8-bit PNGs gives exactly what imdecode(flags) gives."""
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    raw = encoded.tobytes()
    expected = cv2.imdecode(np.frombuffer(raw, np.uint8), flags)
    decoded = decode_cell({"bytes": raw, "path": None}, flags, "frame x")
    assert decoded.dtype == expected.dtype and decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)
