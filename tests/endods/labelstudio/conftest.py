"""Fixtures: one real Label Studio server per test session, and a tiny built dataset.

The server comes from scripts/labelstudio_server.py (the one place with start/stop logic) and
needs `.venv-ls/bin/label-studio` (or ENDODS_LABEL_STUDIO_EXE). Set ENDODS_LS_TEST_DATA_DIR to a
folder kept between runs to skip the ~30-45 s of first-boot migrations (a restart takes ~5 s).
If it cannot start, CI (CI=true) fails loudly; a local run skips with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from lsframes import FRAME_IDS, SPLIT, frame_arrays

from endods.writer import BuildSession, EncodedFrame
from schemas.labelmaps import MTLENDOVIS

ROOT = Path(__file__).resolve().parents[3]


def _server_module():
    spec = importlib.util.spec_from_file_location("labelstudio_server", ROOT / "scripts" / "labelstudio_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def labelstudio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    server = _server_module()
    data_dir = Path(os.environ.get("ENDODS_LS_TEST_DATA_DIR") or tmp_path_factory.mktemp("labelstudio"))
    try:
        handle = server.start(data_dir)
    except server.ServerStartError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Label Studio server did not start (CI never skips): {exc}", pytrace=False)
        pytest.skip(f"Label Studio server unavailable: {exc}")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-frame mtlendovis dataset at 160x128: 4 test frames, 2 train frames."""
    out = tmp_path_factory.mktemp("tiny") / "ds"
    with BuildSession(out) as session:
        for i, fid in enumerate(FRAME_IDS):
            image, mask, activity = frame_arrays(i)
            ok_i, img_png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            ok_m, mask_png = cv2.imencode(".png", mask)
            assert ok_i and ok_m
            counts = tuple(int(n) for n in np.bincount(mask.ravel(), minlength=256)[: MTLENDOVIS.num_classes])
            session.add(
                EncodedFrame(
                    fid, fid.split("/")[0], "endovis18", activity, img_png.tobytes(), mask_png.tobytes(), counts,
                    facts={"states": [f"fact{i}"]},
                )
            )  # fmt: skip
        session.finish(dataset="mtlendovis", labelmap=MTLENDOVIS, split=SPLIT, options={"seed": 0})
    return out
