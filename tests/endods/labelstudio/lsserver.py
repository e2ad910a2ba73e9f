"""One real Label Studio server per pytest process, shared by every test that needs one.

Both tests/endods/labelstudio (conftest fixture) and tests/cli/test_cli_labelstudio.py use it, so
a full run boots the server once. It comes from scripts/labelstudio_server.py (the one place with
start/stop logic) and needs `.venv-ls/bin/label-studio` (or ENDODS_LABEL_STUDIO_EXE). Set
ENDODS_LS_TEST_DATA_DIR to a folder kept between runs to skip the ~30-45 s of first-boot
migrations (a restart takes ~5 s). If it cannot start, CI (CI=true) fails loudly; a local run skips.
The local-files document root is a fresh temp folder (tests write exported images below it).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from lsframes import FRAME_IDS, SPLIT, frame_arrays

from endods.writer import BuildSession, EncodedFrame
from schemas.labelmaps import MTLENDOVIS

ROOT = Path(__file__).resolve().parents[3]
_started: dict[str, Any] = {}


def server_module() -> Any:
    name = "labelstudio_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "labelstudio_server.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[name]


def session_server(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Any:
    """The running server (started on first use, stopped when pytest ends), or skip/fail."""
    if "handle" in _started:
        return _started["handle"]
    if "error" in _started:
        pytest.skip(_started["error"])
    server = server_module()
    data_dir = Path(os.environ.get("ENDODS_LS_TEST_DATA_DIR") or tmp_path_factory.mktemp("labelstudio"))
    try:
        handle = server.start(data_dir, document_root=tmp_path_factory.mktemp("ls-local-files"))
    except server.ServerStartError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Label Studio server did not start (CI never skips): {exc}", pytrace=False)
        _started["error"] = f"Label Studio server unavailable: {exc}"
        pytest.skip(_started["error"])
    _started["handle"] = handle
    config.add_cleanup(handle.stop)
    return handle


def build_tiny_dataset(out: Path) -> Path:
    """A 6-frame mtlendovis dataset at 160x128: 4 test frames, 2 train frames."""
    with BuildSession(out) as session:
        for i, fid in enumerate(FRAME_IDS):
            image, mask, activity = frame_arrays(i)
            ok_i, img_png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            ok_m, mask_png = cv2.imencode(".png", mask)
            assert ok_i and ok_m
            counts = tuple(int(n) for n in np.bincount(mask.ravel(), minlength=256)[: MTLENDOVIS.num_classes])
            session.add(
                EncodedFrame(
                    fid,
                    fid.split("/")[0],
                    "endovis18",
                    activity,
                    img_png.tobytes(),
                    mask_png.tobytes(),
                    counts,
                    facts={"states": [f"fact{i}"]},
                )
            )
        session.finish(dataset="mtlendovis", labelmap=MTLENDOVIS, split=SPLIT, options={"seed": 0})
    return out
