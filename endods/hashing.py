"""Content hashes for manifests: per-file sha256 and per-source digests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(entries: Iterable[tuple[str, str]]) -> str:
    """sha256 over sorted (relative path, file sha256) pairs: stable across machines and orders."""
    h = hashlib.sha256()
    for rel, digest in sorted(set(entries)):
        h.update(f"{rel}\t{digest}\n".encode())
    return h.hexdigest()
