"""Fixtures shared by the endods test folders: a tiny hand-planned dataset with known content."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.endods.report import tiny_dataset


@pytest.fixture(scope="session")
def tiny() -> ModuleType:
    return tiny_dataset


@pytest.fixture(scope="session")
def tiny_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("tiny") / "tiny"
    return out, tiny_dataset.build_tiny(out)
