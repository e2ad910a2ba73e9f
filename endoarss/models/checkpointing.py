"""Activation checkpointing that keeps BatchNorm running statistics to one update per step.

``torch.utils.checkpoint`` re-runs a segment's forward during backward. A BatchNorm in training
mode would then fold the same batch into its running mean/var a second time (and count it twice),
so a checkpointed ResNet drifts from an un-checkpointed one. The recompute here runs with the
statistics saved beforehand and puts them back afterwards; the normalisation itself (batch
statistics in training mode) is unchanged, so the recomputed activations are identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


@contextmanager
def preserved_norm_stats(module: nn.Module) -> Iterator[None]:
    """Restore the running statistics of every BatchNorm under ``module`` on exit (also on error)."""
    buffers = [
        buf
        for norm in module.modules()
        if isinstance(norm, nn.modules.batchnorm._BatchNorm) and norm.training and norm.track_running_stats
        for buf in (norm.running_mean, norm.running_var, norm.num_batches_tracked)
        if buf is not None
    ]
    saved = [buf.clone() for buf in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in zip(buffers, saved, strict=True):
                buf.copy_(value)


def checkpoint_segment(fn: Callable[..., Tensor], module: nn.Module, *args: Any) -> Tensor:
    """``checkpoint(fn, *args)`` (non-reentrant); BN statistics of ``module`` are updated by the forward only."""
    calls = 0

    def run(*inner: Any) -> Tensor:
        nonlocal calls
        calls += 1
        if calls == 1:  # the real forward
            return fn(*inner)
        with preserved_norm_stats(module):  # the recompute during backward
            return fn(*inner)

    return checkpoint(run, *args, use_reentrant=False)
