"""Export/import fixtures: the tiny dataset (known content) and the suite's real-size synthetic build."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_tiny() -> ModuleType:
    """The helper lives beside the report tests; loaded by path (tests/ is not an importable package)."""
    name = "endods_tests_tiny_dataset"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "report" / "tiny_dataset.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def tiny() -> ModuleType:
    return load_tiny()


@pytest.fixture(scope="session")
def tiny_built(tiny: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("tiny") / "tiny"
    return out, tiny.build_tiny(out)


@pytest.fixture(scope="session")
def real_built(built_mtlendovis: Path) -> Path:
    """The suite's synthetic MTLEndovis build (real 1280x1024 frames, tests/conftest.py)."""
    return built_mtlendovis
