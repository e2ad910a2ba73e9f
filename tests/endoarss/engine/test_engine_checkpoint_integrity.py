"""Issue 16 cases 9, 14 and 16: checkpoints are checked on load; batch_size=1 is refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from endoarss.config import build_config
from endoarss.engine.checkpoint import (
    HASHES_KEY,
    MODEL_FILE,
    STATE_FILE,
    load_model_state,
    load_tree,
    read_state,
    write_checkpoint,
)
from endoarss.errors import CheckpointError, ConfigError


def _checkpoint(folder: Path) -> Path:
    model = {"head.weight": torch.arange(64, dtype=torch.float32).reshape(8, 8)}
    parts = {"optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "lr": 0.1}}
    write_checkpoint(folder, parts, model, {"epoch": 2})
    return folder


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_case9_corrupted_tensor_bytes_are_detected(tmp_path: Path) -> None:
    """Case 9: flipped tensor bytes (a still-valid safetensors file) no longer load silently."""
    folder = _checkpoint(tmp_path / "last")
    state = json.loads((folder / STATE_FILE).read_text())
    assert set(state[HASHES_KEY]) == {MODEL_FILE, "optimizer.safetensors", "optimizer.json"}
    assert read_state(folder) == {"epoch": 2}  # the hashes are bookkeeping, not training state
    assert torch.equal(load_model_state(folder)["head.weight"], torch.arange(64.0).reshape(8, 8))
    _flip_last_byte(folder / MODEL_FILE)
    with pytest.raises(CheckpointError, match=f"{folder / MODEL_FILE}: content differs from the sha256"):
        load_model_state(folder)
    _flip_last_byte(folder / "optimizer.safetensors")
    with pytest.raises(CheckpointError, match="optimizer.safetensors: content differs"):
        load_tree(folder, "optimizer")


def test_case9_checkpoints_without_hashes_still_load(tmp_path: Path) -> None:
    folder = _checkpoint(tmp_path / "old")
    state = json.loads((folder / STATE_FILE).read_text())
    del state[HASHES_KEY]
    (folder / STATE_FILE).write_text(json.dumps(state))
    assert load_tree(folder, "optimizer")["lr"] == 0.1


def test_case14_corrupted_safetensors_header_is_a_one_line_error(tmp_path: Path) -> None:
    """Case 14: a damaged header is a CheckpointError naming the file, not a SafetensorError traceback."""
    folder = _checkpoint(tmp_path / "last")
    (folder / STATE_FILE).write_text(json.dumps({"epoch": 2}))  # no hashes: the header parser itself must cope
    for name in (MODEL_FILE, "optimizer.safetensors"):
        path = folder / name
        path.write_bytes(b"\xff" * 8 + path.read_bytes()[8:])  # a header length of 2**64 - 1
    with pytest.raises(CheckpointError, match=f"{folder / MODEL_FILE}: cannot read weights"):
        load_model_state(folder)
    with pytest.raises(CheckpointError, match="cannot read optimizer state"):
        load_tree(folder, "optimizer")


def test_case16_batch_size_one_is_refused_with_the_reason() -> None:
    """Case 16: batch_size=1 used to crash in BatchNorm; the config refuses it and says why."""
    with pytest.raises(ConfigError, match="batch_size must be >= 2: the heads' BatchNorm cannot train"):
        build_config("endoarss", ["batch_size=1"])
    assert build_config("endoarss", ["batch_size=2", "eval_batch_size=1"]).eval_batch_size == 1
