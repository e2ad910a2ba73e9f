"""Model-side data loading throughput at real size (1280x1024 frames), today's path vs the cache, side by side.

Prints one JSON line (img/s, one worker process unless named):
- ``train_today`` / ``eval_today``: the reader before the decoded-sample cache (commit 030520e: converting
  decode, full-size colour swap, crop and colour jitter, then resize), re-implemented here as it was;
- ``train_cold`` / ``eval_cold``: decode into working arrays (cache off, or the first epoch's fill), through
  the fast PNG path where it applies (``--encoding adaptive``: frames it leaves to OpenCV);
- ``cache_fill``: ``attach_cache`` on a cold cache (decode + write + checksum), 1 worker process;
- ``eval_first_pass``: what a first ``eval`` with ``cache=auto`` costs per frame: fill, then read;
- ``train_cached`` / ``eval_cached``: samples read back from the cache (epoch >= 2);
- ``loader_w1`` / ``loader_w2``: the training DataLoader (cached, batch 16) with 1 and 2 workers;
- ``e2e_*``: inference over the cached frames: the DataLoader alone, the model alone on the same batches
  and both (default: 1 worker, a tiny random model on CPU, batch 16), and the share of the end-to-end
  time lost to data. ``benchmarks/gpu_efficiency.sh`` runs it on a GPU (ViT-B, batch 64, bf16).
The today/cold and w1/w2 rates are alternated for ``--rounds`` rounds, each keeping its best, so both sides
of a ratio are measured at the quietest moment a shared machine gave them.
Usage: python benchmarks/loader_throughput.py [--frames N] [--image-size 224] [--encoding opencv|adaptive]
       python benchmarks/loader_throughput.py --e2e-only --device cuda --batch 64 --amp bf16 --backbone-size base
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from endoarss.data.augment import AugmentParams, draw_augment, resize_image, resize_mask
from endoarss.data.cache_setup import attach_cache
from endoarss.data.dataset import SegActDataset, make_loader, normalize, open_split


def today_jitter(image: np.ndarray, draw) -> np.ndarray:  # noqa: ANN001
    """The pre-cache colour jitter: three float32 passes over the image."""
    if draw.brightness == draw.contrast == draw.saturation == 1.0:
        return image
    x = image.astype(np.float32) * draw.brightness
    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    x = (x - grey.mean()) * draw.contrast + grey.mean()
    grey = (x @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    x = grey + (x - grey) * draw.saturation
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def today_decode(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """The pre-cache decoder (commit 030520e): converting imdecode flags, colour swap on the full-size frame."""
    image = cv2.imdecode(np.frombuffer(row["image"]["bytes"], np.uint8), cv2.IMREAD_COLOR)
    mask = cv2.imdecode(np.frombuffer(row["mask"]["bytes"], np.uint8), cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), mask


def today_item(ds: SegActDataset, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The pre-cache ``SegActDataset.__getitem__`` pixels: jitter on the full-size crop, then resize."""
    index, epoch = key
    image, mask = today_decode(ds.data.table[index])
    if not ds.train:
        return resize_image(image, ds.image_size), mask
    rng = np.random.default_rng([ds.seed, epoch, index])
    draw = draw_augment(rng, ds.augment, *image.shape[:2])
    top, left, h, w = draw.crop
    image, mask = image[top : top + h, left : left + w], mask[top : top + h, left : left + w]
    if draw.flip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image = today_jitter(np.ascontiguousarray(image), draw)
    return resize_image(image, ds.image_size), resize_mask(np.ascontiguousarray(mask), ds.image_size)


def rate(fn, n: int, repeat: int = 1) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for r in range(repeat):
        for i in range(n):
            fn((i, r + 1))
    return n * repeat / (time.perf_counter() - start)


def fastest(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Each rate's best of ``rounds``, the measures alternated round by round: on a shared machine the
    sides of a ratio are then judged at equally quiet moments."""
    best = dict.fromkeys(measures, 0.0)
    for _ in range(rounds):
        for name, measure in measures.items():
            best[name] = max(best[name], measure())
    return best


class Repeated(torch.utils.data.Dataset):
    """``times`` copies of a dataset's keys in one epoch, so worker start-up (once per epoch) is amortised
    as over a real split of thousands of frames."""

    def __init__(self, ds: SegActDataset, times: int) -> None:
        self.ds, self.times = ds, times

    def __len__(self) -> int:
        return len(self.ds) * self.times

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, epoch = key
        return self.ds[(index % len(self.ds), epoch)]


def loader_rate(ds: SegActDataset, workers: int, times: int = 50) -> float:
    """Steady-state img/s of the training DataLoader (batch 16) over ``times`` passes of the frames."""
    loader = make_loader(Repeated(ds, times), 16, True, 0, workers, drop_last=False)
    loader.sampler.set_epoch(1)
    batches = iter(loader)
    next(batches)  # worker start-up is not what we measure
    count, start = 0, time.perf_counter()
    for batch in batches:
        count += len(batch["frame_id"])
    return count / (time.perf_counter() - start)


def end_to_end(
    data: Path,
    image_size: int,
    device: str = "cpu",
    batch: int = 16,
    workers: int = 1,
    size: str = "tiny",
    amp: str = "none",
    passes: int = 1,
) -> dict[str, float]:
    """Inference over the (cached) train frames: the loader alone, the model alone on the same batches,
    and both together (what a user sees), in img/s; ``e2e_data_share`` = time not explained by the model."""
    from endoarss.config import build_config
    from endoarss.engine.run_folder import build_model

    ds = SegActDataset(open_split(data, "train"), (image_size, image_size), False)
    attach_cache(ds, "auto", workers)
    cfg = build_config("endoarss", [f"backbone_size={size}", f"image_size={image_size}", "amp=none", "weights=random"])
    model = build_model(cfg, ds.data.labelmap).eval().to(device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    autocast = torch.autocast(device, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    loader = make_loader(ds, batch, False, 0, workers, False)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def timed(fn) -> float:  # noqa: ANN001
        sync()
        start = time.perf_counter()
        count = fn()
        sync()
        return count / (time.perf_counter() - start)

    def loader_only() -> int:
        return sum(len(b["image"]) for _ in range(passes) for b in loader)

    images = [b["image"] for b in loader]

    def model_only() -> int:
        with torch.no_grad(), autocast:
            for _ in range(passes):
                for x in images:
                    model(normalize(x.to(device, non_blocking=True)))
        return passes * sum(len(x) for x in images)

    def both() -> int:
        count = 0
        with torch.no_grad(), autocast:
            for _ in range(passes):
                for b in loader:
                    model(normalize(b["image"].to(device, non_blocking=True)))
                    count += len(b["image"])
        return count

    model_only()  # warm-up (cuDNN/cuBLAS autotuning, lazy init)
    res = {"e2e_loader_img_s": timed(loader_only), "e2e_model_only_img_s": timed(model_only)}
    res["e2e_img_s"] = timed(both)
    res["e2e_data_share"] = max(0.0, 1 - res["e2e_img_s"] / res["e2e_model_only_img_s"])
    return res


def make_dataset(root: Path, frames: int, encoding: str = "opencv") -> Path:
    """A real-size MTLEndovis build; ``encoding="adaptive"`` re-encodes every source PNG with libpng's
    adaptive row filters (mostly Paeth), which the fast PNG path leaves to OpenCV."""
    from endods.build import BuildOptions, build_mtlendovis
    from endods.split import SplitConfig
    from endods.synth import synth_endovis18

    synth_endovis18(root / "src", sequences=3, frames=frames // 3 + 2, seed=0)
    if encoding == "adaptive":
        for png in (root / "src").rglob("*.png"):
            pixels = cv2.imdecode(np.fromfile(png, np.uint8), cv2.IMREAD_UNCHANGED)
            png.write_bytes(cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 6])[1].tobytes())
    out = root / "ds"
    build_mtlendovis(root / "src", out, BuildOptions(split=SplitConfig("paper", 0.2, 0)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="synthetic frames to build (real size)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the split for cached rates")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternated rounds of the cold and loader rates (best kept)"
    )
    parser.add_argument(
        "--encoding",
        default="opencv",
        choices=["opencv", "adaptive"],
        help="frame PNGs as the synthetic sources write them (zlib level 1, one filter per image, as OpenCV's "
        "imwrite) or re-encoded with libpng's adaptive filters (Paeth rows: the fast PNG path declines them)",
    )
    parser.add_argument("--e2e-only", action="store_true", help="only the end-to-end measurement (GPU bench)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16, help="end-to-end batch size")
    parser.add_argument("--workers", type=int, default=1, help="end-to-end DataLoader workers")
    parser.add_argument("--backbone-size", default="tiny", help="end-to-end model size (random weights)")
    parser.add_argument("--amp", default="none", choices=["bf16", "fp16", "none"])
    parser.add_argument("--passes", type=int, default=1, help="end-to-end passes over the frames")
    args = parser.parse_args()
    if args.device == "cpu":
        cv2.setNumThreads(1)  # per-worker-process numbers, as DataLoader workers run (pin_worker_threads)
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["ENDODS_CACHE"] = str(root / "cache")
        data = make_dataset(root, args.frames, args.encoding)
        res: dict[str, float | int | str] = {"cpus": os.cpu_count(), "device": args.device, "encoding": args.encoding}
        if not args.e2e_only:
            res.update(per_sample(data, args.image_size, args.repeat, args.rounds))
        e2e = end_to_end(
            data, args.image_size, args.device, args.batch, args.workers, args.backbone_size, args.amp, args.passes
        )
        res.update(e2e, e2e_batch=args.batch, e2e_workers=args.workers, e2e_model=args.backbone_size, amp=args.amp)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}))


def per_sample(data: Path, image_size: int, repeat: int, rounds: int) -> dict[str, float | int]:
    """Per-sample and DataLoader rates, today's reader vs cold vs cached (see the module docstring)."""
    size = (image_size, image_size)
    train = SegActDataset(open_split(data, "train"), size, True, AugmentParams(), seed=0)
    evals = SegActDataset(open_split(data, "test"), size, False)
    n_train, n_eval = len(train), len(evals)
    res: dict[str, float | int] = {"frames_train": n_train, "frames_eval": n_eval}
    eval_repeat = max(1, n_train // max(1, n_eval))  # the test split is small: as many samples as train
    cold = {
        "train_today": lambda: rate(lambda k: today_item(train, k), n_train),
        "train_cold": lambda: rate(train.__getitem__, n_train),
        "eval_today": lambda: rate(lambda k: today_item(evals, k), n_eval, eval_repeat),
        "eval_cold": lambda: rate(evals.__getitem__, n_eval, eval_repeat),
    }
    res.update(fastest(cold, rounds))
    start = time.perf_counter()
    attach_cache(train, "auto", 1)
    res["cache_fill"] = n_train / (time.perf_counter() - start)
    start = time.perf_counter()
    attach_cache(evals, "auto", 0)  # `endods eval` fills in its own process (num_workers=0)
    rate(evals.__getitem__, n_eval)
    res["eval_first_pass"] = n_eval / (time.perf_counter() - start)  # cache=auto, cold: fill, then read
    res["train_cached"] = rate(train.__getitem__, n_train, repeat)
    res["eval_cached"] = rate(evals.__getitem__, n_eval, repeat)
    res.update(
        fastest({"loader_w1": lambda: loader_rate(train, 1), "loader_w2": lambda: loader_rate(train, 2)}, rounds)
    )
    res["cold_vs_today_train"] = res["train_cold"] / res["train_today"]
    res["cold_vs_today_eval"] = res["eval_cold"] / res["eval_today"]
    res["first_pass_vs_today_eval"] = res["eval_first_pass"] / res["eval_today"]
    res["cached_vs_today_train"] = res["train_cached"] / res["train_today"]
    res["w2_vs_w1"] = res["loader_w2"] / res["loader_w1"]
    return res


if __name__ == "__main__":
    main()
