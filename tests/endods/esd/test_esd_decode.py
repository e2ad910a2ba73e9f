"""Single sequential decode pass per video: no seeking, only annotated frames retrieved."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from endods.esd_build import build_mtlesd, decode_frames
from endods.synth.esd import EsdSynthReport


class _Spy:
    """Wraps cv2.VideoCapture and records opens, frames advanced, frames retrieved and set() calls."""

    log: Counter = Counter()
    sets: list = []

    def __init__(self, path: str) -> None:
        self._cap = _REAL(path)
        self._path = Path(path).name
        _Spy.log[("open", self._path)] += 1

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._cap.isOpened()

    def grab(self) -> bool:
        ok = self._cap.grab()
        _Spy.log[("advance", self._path)] += ok
        return ok

    def read(self) -> tuple[bool, np.ndarray]:
        ok, frame = self._cap.read()
        _Spy.log[("advance", self._path)] += ok
        _Spy.log[("retrieve", self._path)] += ok
        return ok, frame

    def retrieve(self) -> tuple[bool, np.ndarray]:
        _Spy.log[("retrieve", self._path)] += 1
        return self._cap.retrieve()

    def set(self, prop: int, value: float) -> bool:
        _Spy.sets.append((prop, value))
        return self._cap.set(prop, value)

    def release(self) -> None:
        self._cap.release()


_REAL = cv2.VideoCapture


def test_one_forward_pass_per_video(esd_source: EsdSynthReport, tmp_path: Path, monkeypatch) -> None:
    _Spy.log.clear()
    _Spy.sets.clear()
    monkeypatch.setattr(cv2, "VideoCapture", _Spy)
    build_mtlesd(esd_source.root, tmp_path / "out")
    assert _Spy.sets == []  # never CAP_PROP_POS_FRAMES
    for video_id, path in esd_source.videos.items():
        wanted = [int(f[-6:]) for f in esd_source.frames if f.startswith(video_id + "/")]
        # one open to probe (first frame: openable, not empty) before any frame work, one for the pass
        assert _Spy.log[("open", path.name)] == 2
        # probe decodes frame 0; the pass decodes up to the last annotated frame and stops there
        assert _Spy.log[("advance", path.name)] == 1 + max(wanted) + 1
        assert _Spy.log[("retrieve", path.name)] == len(wanted)


def test_decode_frames_yields_frames_in_order_and_none_past_the_end(tmp_path: Path) -> None:
    path = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"png "), 5, (32, 24))
    for t in range(10):
        writer.write(np.full((24, 32, 3), t * 20, np.uint8))
    writer.release()
    got = [(i, None if f is None else int(f[0, 0, 0]), n) for i, f, n in decode_frames(path, [7, 2, 12, 5, 30])]
    assert got == [(2, 40, 3), (5, 100, 6), (7, 140, 8), (12, None, 10), (30, None, 10)]


@pytest.mark.parametrize("indices", [[], [0]])
def test_decode_frames_edge_cases(tmp_path: Path, indices: list[int]) -> None:
    path = tmp_path / "one.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"png "), 5, (16, 16))
    writer.write(np.full((16, 16, 3), 9, np.uint8))
    writer.release()
    got = [(i, int(f[0, 0, 0]), n) for i, f, n in decode_frames(path, indices)]
    assert got == [(i, 9, 1) for i in indices]
