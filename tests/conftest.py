"""Shared fixtures: synthetic source trees in the real formats and datasets built from them.

Built once per test session (real 1280x1024 frames, a few per sequence) so every package's tests
exercise the real builder on the real layouts without paying for it more than once.
"""

from __future__ import annotations

import os

# Tests never touch the network: fail fast instead of waiting on hub time-outs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from endods.build import BuildOptions, build_mtlendovis, build_mtlendovis_gen  # noqa: E402
from endods.split import SplitConfig  # noqa: E402
from endods.synth import SynthReport, synth_endovis17, synth_endovis18  # noqa: E402


@pytest.fixture(scope="session")
def endovis18_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthReport]:
    root = tmp_path_factory.mktemp("src18")
    report = synth_endovis18(root, sequences=3, frames=6, seed=0)
    return root, report


@pytest.fixture(scope="session")
def endovis17_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthReport]:
    root = tmp_path_factory.mktemp("src17")
    report = synth_endovis17(root, sequences=2, frames=5, seed=0)
    return root, report


@pytest.fixture(scope="session")
def built_mtlendovis(tmp_path_factory: pytest.TempPathFactory, endovis18_source) -> Path:
    """A small MTLEndovis built from the synthetic EndoVis18 tree (paper split, seed 0)."""
    out = tmp_path_factory.mktemp("built") / "mtlendovis"
    build_mtlendovis(endovis18_source[0], out, BuildOptions(split=SplitConfig("paper", 0.2, 0)))
    return out


@pytest.fixture(scope="session")
def built_mtlendovis_gen(tmp_path_factory: pytest.TempPathFactory, endovis17_source) -> Path:
    out = tmp_path_factory.mktemp("built") / "mtlendovis-gen"
    build_mtlendovis_gen(endovis17_source[0], out, BuildOptions())
    return out


@pytest.fixture
def endovis18_copy(tmp_path: Path, endovis18_source) -> tuple[Path, SynthReport]:
    """A private copy of the synthetic EndoVis18 tree that a test may damage."""
    root = tmp_path / "src"
    shutil.copytree(endovis18_source[0], root)
    return root, endovis18_source[1]
