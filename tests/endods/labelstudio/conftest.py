"""Fixtures: the shared real Label Studio server (lsserver.py) and a tiny built dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsserver import build_tiny_dataset, session_server


@pytest.fixture(scope="session")
def labelstudio_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> object:
    return session_server(tmp_path_factory, pytestconfig)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-frame mtlendovis dataset at 160x128: 4 test frames, 2 train frames."""
    return build_tiny_dataset(tmp_path_factory.mktemp("tiny") / "ds")
