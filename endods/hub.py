"""Publish a built dataset to the Hugging Face Hub (`endods publish`).

Two steps so that a dry run and the checks never touch the network:

- `plan_publish` works offline: it validates the dataset (hashes, schema, masks), checks that the card
  on disk is the one the manifest renders to, applies the EndoVis redistribution rule, and lists the
  exact files to upload (README.md, manifest.json, data/*.parquet from the manifest's outputs).
- `publish` then creates the dataset repo (private unless the plan says public), uploads the files
  and tags the commit with the dataset version.

Upload method: `upload_folder`, in every huggingface_hub version we support. It commits the files and
the deletion of stale shards (hub 2.4 with hf-xet splits a very large folder into several commits to
stay under server limits; the call returns the last, which is the one tagged). Re-running the same
call after an interruption sends only what the Hub does not already have. `upload_large_folder`
(hub 0.25-1.x) is deliberately not used: it retries a failing job forever, so a refused token or a
missing permission would hang `endods publish` instead of failing with the reason.

The token is passed to `HfApi` only: it is never put in a message, a log record or a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from endods.card import render_card
from endods.card.terms import ENDOVIS_TERMS, dataset_kind, terms_for
from endods.errors import DatasetError, EndodsError
from endods.text import plural
from endods.validate import validate_dataset
from schemas.dataset import open_dataset
from schemas.manifest import MANIFEST_NAME
from schemas.progress import ProgressFn

ENDOVIS_SOURCE_VALUES = frozenset({"endovis17", "endovis18"})
DATA_PATTERN = "data/*.parquet"


class PublishError(EndodsError):
    """Publishing was refused (checks, rights, tag clash) or the Hub call failed."""


@dataclass(frozen=True)
class UploadFile:
    path: str  # path in the repo (= path relative to the dataset folder)
    size: int


@dataclass(frozen=True)
class PublishPlan:
    """Everything `publish` will do, decided offline (this is what a dry run prints)."""

    out: Path
    repo_id: str
    private: bool
    revision: str | None
    tag: str
    dataset: str
    files: tuple[UploadFile, ...]
    endovis_derived: bool
    terms: str
    card_head: str

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def allow_patterns(self) -> list[str]:
        """The exact file list: nothing else in OUT (spool files, reports, .git) can be uploaded."""
        return [f.path for f in self.files]


@dataclass(frozen=True)
class PublishResult:
    url: str
    commit: str
    tag: str
    tag_existed: bool
    private: bool


def resolve_token(token: str | None = None) -> tuple[str | None, str]:
    """(token, where it came from): --token, then HF_TOKEN, then the saved `hf auth login` token."""
    if token:
        return token, "--token"
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"], "HF_TOKEN"
    from huggingface_hub import get_token

    saved = get_token()
    return (saved, "saved login") if saved else (None, "none")


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PublishError(f"--repo-id {repo_id!r} is not a valid repository id: {exc}") from None
    if repo_id.count("/") != 1:
        raise PublishError(f"--repo-id must be ORG/NAME (or USER/NAME), got {repo_id!r}")


def _data_sources(files: list[Path]) -> set[str]:
    """Distinct values of the `source` column: the data's own word on where frames came from."""
    values: set[str] = set()
    for path in files:
        values.update(pq.read_table(path, columns=["source"]).column("source").unique().to_pylist())
    return values


def plan_publish(
    out: Path,
    repo_id: str,
    *,
    public: bool = False,
    i_have_rights: bool = False,
    revision: str | None = None,
    on_progress: ProgressFn | None = None,
) -> PublishPlan:
    """Check OUT and decide the upload, without any network call; PublishError/DatasetError if refused."""
    out = Path(out)
    _check_repo_id(repo_id)
    problems = validate_dataset(out, on_progress)  # no network: hashes, schema, masks, counts
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems[:20])
        raise DatasetError(
            f"{out} is not a valid dataset, refusing to publish ({plural(len(problems), 'problem')}):\n{listing}"
        )
    ds = open_dataset(out)
    manifest = ds.manifest
    card = (out / "README.md").read_text(encoding="utf-8")
    if card != render_card(manifest, ds.labelmap):
        from endods import __version__

        raise PublishError(
            f"{out / 'README.md'} differs from the card endods {__version__} renders for {out / MANIFEST_NAME} "
            f"(dataset built by {manifest.tool.name} {manifest.tool.version}). README.md is hashed into the "
            "dataset version, so publish will not rewrite it: restore it, or rebuild the dataset with this "
            "endods version."
        )
    parquet = [p for s in ds.splits for p in ds.parquet_files(s)]
    kind = dataset_kind(manifest)
    endovis = kind in ("endovis18", "endovis17") or bool(_data_sources(parquet) & ENDOVIS_SOURCE_VALUES)
    if public and endovis and not i_have_rights:
        raise PublishError(
            f"refusing a public upload of {manifest.dataset} to {repo_id}: it is derived from EndoVis data. "
            f"{ENDOVIS_TERMS} Publish it privately (the default; share it with people who accepted the "
            "challenge terms), or pass --i-have-rights if the organisers allowed you to redistribute it."
        )
    rel = sorted([*manifest.outputs, MANIFEST_NAME], key=lambda p: (p.startswith("data/"), p))
    files = tuple(UploadFile(p, (out / p).stat().st_size) for p in rel)
    body = card.split("\n---\n", 1)[-1].strip().split("\n## ", 1)[0]
    return PublishPlan(
        out=out,
        repo_id=repo_id,
        private=not public,
        revision=revision or None,
        tag=manifest.version,
        dataset=manifest.dataset,
        files=files,
        endovis_derived=endovis,
        terms=ENDOVIS_TERMS if endovis else terms_for(kind),
        card_head=body,
    )


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _hub(what: str, token: str | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the Hub; any failure becomes a PublishError naming the step, with the token scrubbed."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - network boundary: HTTP, offline mode, validation, I/O
        raise PublishError(f"{what} failed: {type(exc).__name__}: {_scrub(str(exc), token)}") from None


def _refs(api: Any, repo_id: str, token: str | None) -> tuple[dict[str, str], dict[str, str]]:
    refs = _hub("listing branches and tags", token, api.list_repo_refs, repo_id, repo_type="dataset")
    return {b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags}


def _upload(api: Any, plan: PublishPlan, token: str | None) -> str:
    """Upload the planned files, deleting stale shards; returns the commit the branch ends on."""
    repo, what = plan.repo_id, f"uploading {plan.out} to {plan.repo_id}"
    commit = _hub(
        what,
        token,
        api.upload_folder,
        repo_id=repo,
        folder_path=plan.out,
        repo_type="dataset",
        revision=plan.revision,
        allow_patterns=plan.allow_patterns,
        # Stale shards of an earlier version would be picked up by the data/{split}-* globs.
        delete_patterns=[DATA_PATTERN],
        commit_message=f"Upload {plan.dataset} version {plan.tag}",
        commit_description=f"{len(plan.files)} files, {plan.total_bytes} bytes, written by endods publish.",
    )
    return commit.oid


def publish(plan: PublishPlan, *, token: str | None = None, api: Any = None) -> PublishResult:
    """Create the repo, upload the planned files, tag the commit with the dataset version."""
    token, _ = resolve_token(token)
    if token is None:
        raise PublishError("no Hugging Face token: run `hf auth login`, set HF_TOKEN, or pass --token")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    repo = plan.repo_id
    repo_url = _hub(
        f"creating dataset repo {repo}",
        token,
        api.create_repo,
        repo,
        repo_type="dataset",
        private=plan.private,
        exist_ok=True,
    )
    info = _hub(f"reading repo {repo}", token, api.repo_info, repo, repo_type="dataset")
    if plan.private and not getattr(info, "private", True):
        raise PublishError(
            f"{repo} already exists and is public; nothing uploaded. Choose another --repo-id, make the repo "
            "private on the Hub, or pass --public (and --i-have-rights for EndoVis-derived data)."
        )
    branch = plan.revision or "main"
    branches, tags = _refs(api, repo, token)
    if plan.tag in tags and tags[plan.tag] != branches.get(branch):
        raise PublishError(
            f"tag {plan.tag} already exists on commit {tags[plan.tag]} of {repo}, but branch {branch!r} is at "
            f"{branches.get(branch)}; version {plan.tag} was published before. Nothing uploaded."
        )
    if plan.revision and plan.revision not in branches:
        _hub(
            f"creating branch {plan.revision}",
            token,
            api.create_branch,
            repo,
            branch=plan.revision,
            repo_type="dataset",
            exist_ok=True,
        )
    oid = _upload(api, plan, token)
    tag_existed = plan.tag in tags
    if not tag_existed:
        try:
            api.create_tag(repo, tag=plan.tag, revision=oid, repo_type="dataset", tag_message=plan.dataset)
        except Exception as exc:  # noqa: BLE001 - a concurrent publish may have created it: compare below
            _, tags = _refs(api, repo, token)
            if plan.tag not in tags:
                raise PublishError(f"tagging {oid} as {plan.tag} failed: {_scrub(str(exc), token)}") from None
            tag_existed = True
    if tag_existed and tags[plan.tag] != oid:
        raise PublishError(
            f"uploaded commit {oid} to {repo}, but tag {plan.tag} points at a different commit "
            f"({tags[plan.tag]}): the same version with different files. Inspect the repo history."
        )
    url = str(repo_url).rstrip("/") + (f"/tree/{plan.revision}" if plan.revision else "")
    return PublishResult(url=url, commit=oid, tag=plan.tag, tag_existed=tag_existed, private=bool(info.private))
