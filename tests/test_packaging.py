"""The distribution's metadata: the dataset side installs without torch, the model side is an extra.

The metadata is built from this tree's pyproject.toml by setuptools (what `pip install` reads), not
taken from the installed copy, which may come from an older checkout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
MODEL_SIDE = {"torch", "transformers", "accelerate", "safetensors", "scipy", "scikit-image", "imagecorruptions"}
# Distribution name -> the module our code imports.
MODULE_OF = {
    "pillow": "PIL",
    "opencv-python-headless": "cv2",
    "pyyaml": "yaml",
    "label-studio-sdk": "label_studio_sdk",
    "scikit-image": "skimage",
    "pytest-timeout": None,  # a pytest plugin, configured in pyproject.toml
    "ruff": None,  # a command
    "endods": None,  # the `robustness` extra names `endods[train]`
    "setuptools": None,  # for the pkg_resources that imagecorruptions imports (pyproject.toml says why)
}


@pytest.fixture(scope="module")
def requirements(tmp_path_factory: pytest.TempPathFactory) -> list[Requirement]:
    src, meta = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("meta")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(meta)], cwd=src, capture_output=True, text=True, check=True)
    dist_info = done.stdout.strip().splitlines()[-1]
    return [Requirement(r) for r in PathDistribution(meta / dist_info).requires or []]


def _extra(req: Requirement) -> str | None:
    found = re.search(r'extra == "([^"]+)"', str(req.marker)) if req.marker else None
    return found.group(1) if found else None


def test_base_install_has_no_model_side(requirements: list[Requirement]) -> None:
    base = {r.name.lower() for r in requirements if _extra(r) is None}
    assert base, "no base dependencies read"
    assert not base & MODEL_SIDE
    assert {"pyarrow", "datasets", "huggingface_hub", "label-studio-sdk", "matplotlib"} <= base


def test_torch_only_in_train_with_a_range_the_pinned_wheel_satisfies(requirements: list[Requirement]) -> None:
    torch = [r for r in requirements if r.name == "torch"]
    assert [_extra(r) for r in torch] == ["train"]
    spec = torch[0].specifier
    assert Version("2.13.0") in spec
    assert Version("2.14.1") in spec  # a range, not a pin
    assert Version("3.0.0") not in spec


def test_robustness_extra_brings_train_and_setuptools_but_not_full_opencv(requirements: list[Requirement]) -> None:
    robustness = {str(r).split(";")[0].strip() for r in requirements if _extra(r) == "robustness"}
    assert robustness == {"endods[train]", "setuptools<81"}
    assert not any(r.name in {"opencv-python", "imagecorruptions"} for r in requirements)


def test_every_declared_dependency_is_imported(requirements: list[Requirement]) -> None:
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("schemas", "endods", "endoarss", "cli", "tests")
        for p in (ROOT / folder).rglob("*.py")
    )
    unused = []
    for req in requirements:
        module = MODULE_OF.get(req.name.lower(), req.name.replace("-", "_"))
        if module and not re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE):
            unused.append(req.name)
    assert unused == []
