"""Export/import fixtures: the suite's real-size synthetic build (tiny fixtures: tests/endods/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_built(built_mtlendovis: Path) -> Path:
    """The suite's synthetic MTLEndovis build (real 1280x1024 frames, tests/conftest.py)."""
    return built_mtlendovis
