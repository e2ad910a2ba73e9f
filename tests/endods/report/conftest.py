"""Report fixtures: the tiny dataset (known content) built once per session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_tiny() -> ModuleType:
    """tests/ is not importable as a package under pytest's default import mode: load the helper by path."""
    name = "endods_tests_tiny_dataset"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("tiny_dataset.py"))
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
def tiny_report(tiny_built: tuple[Path, list]) -> Path:
    from endods.report import build_report

    return build_report(tiny_built[0]).path
