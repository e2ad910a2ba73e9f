"""Shared ESD fixtures: one synthetic source + build per session keeps the suite fast on 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from endods.esd_build import build_mtlesd
from endods.synth.esd import EsdSynthReport, synth_esd


@pytest.fixture(scope="session")
def esd_source(tmp_path_factory: pytest.TempPathFactory) -> EsdSynthReport:
    return synth_esd(tmp_path_factory.mktemp("esd") / "src", videos=2, frames=48, seed=0)


@pytest.fixture(scope="session")
def esd_built(esd_source: EsdSynthReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("esd_out") / "mtlesd"
    build_mtlesd(esd_source.root, out)
    return out


@pytest.fixture(scope="session")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> EsdSynthReport:
    """Short videos for the bad-input tests, which copy and then damage it."""
    return synth_esd(tmp_path_factory.mktemp("esd_small") / "src", videos=2, frames=19, seed=3)
