"""Per-source digests for manifests (file hashes: ``schemas.hashing``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def tree_digest(entries: Iterable[tuple[str, str]]) -> str:
    """sha256 over sorted (relative path, file sha256) pairs: stable across machines and orders."""
    h = hashlib.sha256()
    for rel, digest in sorted(set(entries)):
        h.update(f"{rel}\t{digest}\n".encode())
    return h.hexdigest()
