"""Byte storage for encoded frames between decode and the final, split-ordered write.

Frames stay in memory up to a budget (the common case: a few thousand frames) and spill to a file
in the staging folder beyond it, so memory stays bounded on datasets of any size.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes kept in RAM before spilling to disk


class Spool:
    def __init__(self, path: Path, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        self.path = Path(path)
        self.memory_budget = memory_budget
        self._memory: list[bytes] = []
        self._in_memory = 0
        self._file = None
        self._offset = 0
        self._spans: list[tuple[int, int]] = []  # (-1, index into _memory) or (offset, length) in the file

    def put(self, data: bytes) -> int:
        """Store `data`; return its handle."""
        if self._in_memory + len(data) <= self.memory_budget:
            self._memory.append(data)
            self._in_memory += len(data)
            self._spans.append((-1, len(self._memory) - 1))
        else:
            if self._file is None:
                self._file = open(self.path, "w+b")  # noqa: SIM115 - closed in close()
            self._file.seek(self._offset)
            self._file.write(data)
            self._spans.append((self._offset, len(data)))
            self._offset += len(data)
        return len(self._spans) - 1

    def get(self, handle: int) -> bytes:
        start, size = self._spans[handle]
        if start < 0:
            return self._memory[size]
        assert self._file is not None
        self._file.seek(start)
        return self._file.read(size)

    def close(self) -> None:
        self._memory.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
            self.path.unlink(missing_ok=True)
