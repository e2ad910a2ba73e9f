"""The manifest's `sources`: per source root, how many files a build read and one digest over them."""

from __future__ import annotations

import os
from pathlib import Path

from endods.hashing import tree_digest
from schemas.manifest import SourceDigest


def source_digests(file_hashes: dict[str, str], sources: dict[str, str | Path]) -> dict[str, SourceDigest]:
    """Group `{file path: sha256}` under the named source roots that hold them, one digest per root."""
    # Match on absolute paths first (string work); resolve symlinks only for what does not match.
    plain = {name: os.path.join(os.path.abspath(root), "") for name, root in sources.items()}
    resolved = {name: os.path.join(Path(root).resolve(), "") for name, root in sources.items()}
    grouped: dict[str, list[tuple[str, str]]] = {name: [] for name in plain}
    for key, digest in file_hashes.items():
        path = Path(key)
        if not path.is_absolute() and len(plain) == 1:  # a single source may key files relative to its root
            grouped[next(iter(plain))].append((path.as_posix(), digest))
            continue
        # relative keys of several sources are relative to the working directory
        for candidate, roots in ((os.path.abspath(key), plain), (str(path.resolve()), resolved)):
            name = next((n for n, root in roots.items() if candidate.startswith(root)), None)
            if name is not None:
                grouped[name].append((Path(candidate[len(roots[name]) :]).as_posix(), digest))
                break
    return {
        name: SourceDigest(files=len(set(entries)), digest=tree_digest(entries))
        for name, entries in sorted(grouped.items())
    }
