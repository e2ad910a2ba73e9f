"""Timing and peak-memory probes of the efficiency bench (stdlib + torch only).

CUDA memory is the caching allocator's peak (``max_memory_allocated``; the reserved peak is closer to
what nvidia-smi shows). CPU has no allocator peak, so a thread samples the process RSS from
``/proc/self/statm`` every millisecond during one extra, untimed call; the result is the peak minus an
RSS baseline taken by the caller before the model was built. ``release_memory`` runs ``malloc_trim`` so
pages freed by an earlier variant do not count, but RSS stays approximate (allocator caching, and on a
``torch.compile`` run the compiler's own memory).
"""

from __future__ import annotations

import ctypes
import gc
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

MIB = 2**20


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the lifetime peak from getrusage)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def release_memory() -> None:
    """Free what earlier variants left behind so the next RSS / CUDA peak starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:  # glibc keeps freed heap pages resident; hand them back
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cpu_peak_mib(fn: Callable[[], None], baseline: int) -> float:
    """Peak RSS (MiB above ``baseline``) while ``fn`` runs, sampled every millisecond."""
    peak, done = [rss_bytes()], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return (max(peak[0], rss_bytes()) - baseline) / MIB


def timed(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> tuple[list[float], float]:
    """(per-repeat seconds, total warm-up seconds); CUDA is synchronised around every call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync()
    warm = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times, warm


def phase(
    fn: Callable[[], None], device: torch.device, warmup: int, repeats: int, batch: int, baseline: int
) -> dict[str, Any]:
    """Time ``fn`` and take its peak memory (CUDA: over the timed calls; CPU: one extra sampled call)."""
    if device.type == "cuda":
        fn()  # first call allocates lazily-created state (Adam moments) before the peak is reset
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, warm = timed(fn, device, warmup, repeats)
    if device.type == "cuda":
        memory = {
            "peak_mib": torch.cuda.max_memory_allocated() / MIB,
            "peak_reserved_mib": torch.cuda.max_memory_reserved() / MIB,
            "memory_kind": "cuda_allocated",
        }
    else:
        release_memory()
        memory = {"peak_mib": cpu_peak_mib(fn, baseline), "memory_kind": "cpu_rss_delta"}
    median = statistics.median(times)
    return {
        "step_s_median": median,
        "step_s_min": min(times),
        "warmup_s": warm,
        "img_s_median": batch / median,
        "img_s_best": batch / min(times),
        **memory,
    }
