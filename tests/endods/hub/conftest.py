"""Tiny datasets built with the real writer, and a stand-in for the Hub at the HfApi boundary.

The fake replaces HfApi's network methods on the class (create_repo, repo_info, list_repo_refs,
create_branch, list_repo_files, _validate_yaml, create_commit, create_tag) and disables hf-xet, so
the real `upload_folder` still filters the folder and builds the commit operations we check.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from huggingface_hub import HfApi
from huggingface_hub.hf_api import CommitInfo, RepoUrl

from endods.pngio import encode_png
from endods.writer import BuildSession, EncodedFrame, SplitConfig
from schemas.labelmaps import MTLENDOVIS, MTLESD, LabelMap
from schemas.manifest import Manifest, Parent

TOKEN = "hf_TESTTOKENdoNotLeak0123456789abcdefXYZ"
HUB_METHODS = (
    "create_repo",
    "repo_info",
    "list_repo_refs",
    "create_branch",
    "list_repo_files",
    "_validate_yaml",
    "create_commit",
    "create_tag",
    "upload_folder",
)


def make_frames(labelmap: LabelMap, source: str, n: int = 10, seed: int = 0) -> list[EncodedFrame]:
    """n frames of 16x20 px; activity i % 3, group = i % 2; masks use every class id."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        img = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
        mask = rng.integers(0, labelmap.num_classes, (16, 20), dtype=np.uint8)
        mask[0, 0] = 255
        counts = np.bincount(mask[mask != 255], minlength=labelmap.num_classes)
        frames.append(
            EncodedFrame(
                f"seq_{i % 2}/frame{i:03d}",
                f"seq_{i % 2}",
                source,
                i % 3,
                encode_png(img),
                encode_png(mask),
                tuple(int(c) for c in counts),
                file_hashes={f"seq_{i % 2}/frame{i:03d}.png": hashlib.sha256(bytes([i])).hexdigest()},
            )
        )
    return frames


def build(
    out: Path,
    dataset: str = "mtlendovis",
    n: int = 10,
    seed: int = 0,
    parent: Parent | None = None,
    provenance: dict | None = None,
) -> Manifest:
    """Build OUT with the real BuildSession (paper split 0.2, one dropped frame, one source root)."""
    labelmap = MTLESD if dataset == "mtlesd" else MTLENDOVIS
    source = "esd" if dataset == "mtlesd" else "endovis18"
    options = {"strict": False, "crop": [307, 35, 1306, 1009] if dataset == "mtlesd" else None}
    with BuildSession(out) as session:
        for frame in make_frames(labelmap, source, n, seed):
            session.add(frame)
        session.drop("seq_9/frame000", "no_activity", "seq_9/frame000.txt")
        return session.finish(
            dataset,
            labelmap,
            SplitConfig("paper", 0.2, 0),
            options=options,
            sources={source: out.parent / "src"},
            parent=parent,
            provenance=provenance or {"command": f"endods build --out {out}", "created": "now"},
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("built") / "mtlendovis"
    return out, build(out)


@dataclass
class FakeHub:
    """Records every Hub call; state of one remote repository."""

    calls: list[tuple[str, dict]] = field(default_factory=list)
    private: bool | None = None
    exists: bool = False
    head: str = "0" * 40
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    remote_files: list[str] = field(default_factory=list)
    operations: list = field(default_factory=list)
    validated_yaml: list[str] = field(default_factory=list)
    tokens: set = field(default_factory=set)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
        hub = self
        # hub >= 1.0 checks for xet before uploading; older hubs have no such check
        monkeypatch.setattr("huggingface_hub.hf_api.is_xet_available", lambda: False, raising=False)

        def record(name: str, api: HfApi, **kw: object) -> None:
            hub.tokens.add(api.token)
            hub.calls.append((name, kw))

        def create_repo(api, repo_id, **kw):
            record("create_repo", api, repo_id=repo_id, **kw)
            if not hub.exists:
                hub.exists, hub.private = True, bool(kw.get("private"))
                hub.branches.setdefault("main", hub.head)
            return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

        def repo_info(api, repo_id, **kw):
            record("repo_info", api, repo_id=repo_id, **kw)
            return SimpleNamespace(private=hub.private, xet_enabled=False)  # hub < 1.0 reads xet_enabled

        def list_repo_refs(api, repo_id, **kw):
            record("list_repo_refs", api, repo_id=repo_id, **kw)
            ref = lambda n, c: SimpleNamespace(name=n, target_commit=c)  # noqa: E731
            return SimpleNamespace(
                branches=[ref(n, c) for n, c in hub.branches.items()], tags=[ref(n, c) for n, c in hub.tags.items()]
            )

        def create_branch(api, repo_id, *, branch, **kw):
            record("create_branch", api, repo_id=repo_id, branch=branch, **kw)
            hub.branches[branch] = hub.branches["main"]

        def list_repo_files(api, repo_id, **kw):
            record("list_repo_files", api, repo_id=repo_id, **kw)
            return list(hub.remote_files)

        def validate_yaml(api, content, **kw):
            record("_validate_yaml", api, **kw)
            yaml.safe_load(content.split("---\n")[1])
            hub.validated_yaml.append(content)

        def create_commit(api, repo_id, operations, **kw):
            ops = list(operations)
            record("create_commit", api, repo_id=repo_id, **kw)
            hub.operations = ops
            oid = hashlib.sha1(repr(sorted(o.path_in_repo for o in ops)).encode()).hexdigest()
            hub.branches[kw.get("revision") or "main"] = oid
            return CommitInfo(
                commit_url=f"https://huggingface.co/datasets/{repo_id}/commit/{oid}",
                commit_message=kw["commit_message"],
                commit_description=kw.get("commit_description") or "",
                oid=oid,
                pr_url=None,
            )

        def create_tag(api, repo_id, *, tag, revision, **kw):
            record("create_tag", api, repo_id=repo_id, tag=tag, revision=revision, **kw)
            hub.tags[tag] = revision

        for name, fn in {
            "create_repo": create_repo,
            "repo_info": repo_info,
            "list_repo_refs": list_repo_refs,
            "create_branch": create_branch,
            "list_repo_files": list_repo_files,
            "_validate_yaml": validate_yaml,
            "create_commit": create_commit,
            "create_tag": create_tag,
        }.items():
            monkeypatch.setattr(HfApi, name, fn)
        return self


def forbid_hub(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every Hub method raise (and record the attempt): for checks that must stay offline."""
    attempts: list[str] = []

    def make(name: str):
        def refuse(*a: object, **kw: object) -> None:
            attempts.append(name)
            raise AssertionError(f"network call {name} during an offline step")

        return refuse

    for name in HUB_METHODS:
        monkeypatch.setattr(HfApi, name, make(name))
    return attempts


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return FakeHub().install(monkeypatch)
