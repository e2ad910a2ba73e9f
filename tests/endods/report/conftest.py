"""Report fixtures: the report of the tiny dataset (tests/endods/conftest.py), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_report(tiny_built: tuple[Path, list]) -> Path:
    from endods.report import build_report

    return build_report(tiny_built[0]).path
