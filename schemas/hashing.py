"""Content hashes shared by the builder (manifests), the readers (integrity checks) and checkpoints."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20  # read files in 1 MiB blocks: constant memory for multi-GB videos and shards


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
