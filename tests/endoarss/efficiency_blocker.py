"""sitecustomize-style import blocker: simulates the bare GPU box (torch, transformers, safetensors, numpy).

Put its directory on PYTHONPATH as ``sitecustomize.py`` (the tests copy it there). Packages in BLOCKED
look uninstalled (``importlib.util.find_spec`` returns None, imports raise ModuleNotFoundError). yaml
is a hard dependency of transformers/huggingface_hub, so it is only refused when our own code
(``endoarss``, ``cli``, ``benchmarks``, ``__main__``) imports it.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.util
import sys

BLOCKED = {"datasets", "pyarrow", "cv2", "rich", "typer", "pydantic", "PIL", "scipy", "skimage", "matplotlib",
           "accelerate", "psutil", "pandas", "torchvision"}  # fmt: skip
OURS = ("endoarss", "cli", "benchmarks", "__main__", "endods", "schemas")
_find_spec = importlib.util.find_spec
_import = builtins.__import__


def _guarded_import(name: str, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002, ANN001, ANN202
    """yaml is loaded by transformers, so a cached ``import yaml`` never reaches a finder: check the importer."""
    importer = (globals or {}).get("__name__", "").split(".")[0]
    if level == 0 and name.split(".")[0] == "yaml" and importer in OURS:
        raise ModuleNotFoundError(f"blocked on the bare GPU box: {name} (imported by {globals['__name__']})", name=name)
    return _import(name, globals, locals, fromlist, level)


def find_spec(name: str, package: str | None = None):  # noqa: ANN201 - mirrors importlib.util.find_spec
    return None if name.split(".")[0] in BLOCKED else _find_spec(name, package)


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked on the bare GPU box: {fullname}", name=fullname)
        return None


importlib.util.find_spec = find_spec
builtins.__import__ = _guarded_import
sys.meta_path.insert(0, Blocker())
