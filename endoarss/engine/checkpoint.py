"""Pickle-free checkpoints: tensors in safetensors, structure and scalars in JSON.

Optimizer, scheduler, weighting and RNG states are nested dicts/lists of tensors and scalars. We
store every tensor under a generated key in ``<stem>.safetensors`` and the structure (with tensor
placeholders and dict key types preserved) in ``<stem>.json``. Loading never calls ``torch.load``, so a
checkpoint from an untrusted source cannot execute code.

A checkpoint folder is written into a temporary sibling and swapped in, so a crash (even SIGKILL)
leaves either the old or the new checkpoint, never a half-written one. ``state.json`` records the
sha256 of every other file (key ``sha256``), checked on load: flipped tensor bytes are an error, not
silently different weights. Checkpoints written before that key existed load unchecked.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from endoarss.errors import CheckpointError
from schemas.atomic import replace_dir, staging_dir
from schemas.hashing import sha256_file

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"
HASHES_KEY = "sha256"  # in state.json: {file name: sha256 hex} of the checkpoint's other files


def verify_file(path: Path) -> None:
    """CheckpointError if ``path`` differs from the hash its folder's ``state.json`` recorded."""
    path = Path(path)
    state_path = path.parent / STATE_FILE
    if not state_path.is_file():
        return
    try:
        expected = json.loads(state_path.read_text()).get(HASHES_KEY, {}).get(path.name)
        actual = sha256_file(path) if expected else None
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: cannot check against {state_path}: {exc}") from None
    if expected and actual != expected:
        raise CheckpointError(
            f"{path}: content differs from the sha256 recorded in {state_path} (the file is corrupted or was "
            "changed after training); restore it from a backup or retrain"
        )


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return {"__tuple__" if isinstance(obj, tuple) else "__list__": [_encode(v, tensors) for v in obj]}
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    raise CheckpointError(f"cannot store a {type(obj).__name__} in a checkpoint (only tensors and scalars)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_decode(v, tensors) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
    return obj


def save_tree(tree: Any, folder: Path, stem: str) -> None:
    """Write ``stem.safetensors`` (all tensors of ``tree``) and ``stem.json`` (the structure)."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(tree, tensors)
    save_file(tensors, str(Path(folder) / f"{stem}.safetensors"))
    (Path(folder) / f"{stem}.json").write_text(json.dumps(structure))


def load_tree(folder: Path, stem: str) -> Any:
    """Inverse of :func:`save_tree`."""
    folder = Path(folder)
    try:
        verify_file(folder / f"{stem}.safetensors")
        verify_file(folder / f"{stem}.json")
        tensors = load_file(str(folder / f"{stem}.safetensors"))
        structure = json.loads((folder / f"{stem}.json").read_text())
        return _decode(structure, tensors)
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise CheckpointError(f"{folder}: cannot read {stem} state: {exc}") from None


def save_model(state: dict[str, torch.Tensor], folder: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(Path(folder) / MODEL_FILE))


def load_model_state(folder: Path) -> dict[str, torch.Tensor]:
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: no model weights")
    verify_file(path)
    try:
        return load_file(str(path))
    except (OSError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: cannot read weights: {exc}") from None


def write_checkpoint(folder: Path, parts: dict[str, Any], model_state: dict[str, torch.Tensor], state: dict) -> None:
    """Atomically (re)write checkpoint ``folder``: model weights, ``parts`` trees, ``state.json``."""
    folder = Path(folder)
    tmp = staging_dir(folder)
    try:
        save_model(model_state, tmp)
        for stem, tree in parts.items():
            save_tree(tree, tmp, stem)
        hashes = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        (tmp / STATE_FILE).write_text(json.dumps({**state, HASHES_KEY: hashes}, indent=2) + "\n")
        replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def find_checkpoint(folder: Path) -> Path | None:
    """``folder`` if complete, else a leftover ``.name.old-*`` from a swap interrupted by a crash."""
    folder = Path(folder)
    if (folder / STATE_FILE).is_file():
        return folder
    olds = sorted(folder.parent.glob(f".{folder.name}.old-*"))
    return next((o for o in olds if (o / STATE_FILE).is_file()), None)


def read_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((Path(folder) / STATE_FILE).read_text())
        state.pop(HASHES_KEY, None)  # the checkpoint's own bookkeeping, not training state
        return state
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{folder}/{STATE_FILE}: cannot read: {exc}") from None


def rng_state() -> dict[str, Any]:
    """Torch CPU/CUDA generator states (informational: the trainer reseeds from (seed, step) anyway)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
