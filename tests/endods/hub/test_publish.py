"""`endods publish` against a stand-in Hub: what is created, uploaded and tagged, and what is refused."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.publish import register
from endods.errors import DatasetError
from endods.hub import PublishError, plan_publish, publish
from schemas.hashing import sha256_file
from schemas.manifest import Manifest
from tests.endods.hub.conftest import TOKEN, build, forbid_hub

REPO = "org/mtlendovis-test"


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keep `publish` a named subcommand
    return app


def _run(*args: str, env: dict | None = None):
    return CliRunner().invoke(_app(), ["publish", *map(str, args)], env=env)


def _dataset_files(out: Path) -> set[str]:
    return {"README.md", "manifest.json", *(f"data/{p.name}" for p in (out / "data").glob("*.parquet"))}


@pytest.fixture
def out(built, tmp_path) -> Path:
    """A private copy of the built dataset plus files that must never be uploaded."""
    dst = tmp_path / "ds"
    shutil.copytree(built[0], dst)
    (dst / "report.html").write_text("local report")
    (dst / "data" / "notes.txt").write_text("scratch")
    return dst


def test_publish_creates_private_repo_uploads_exact_files_and_tags(out, fake_hub, caplog):
    caplog.set_level(logging.DEBUG)
    manifest = Manifest.load(out)
    result = _run(out, "--repo-id", REPO, "--token", TOKEN)
    assert result.exit_code == 0, result.output
    create = dict(fake_hub.calls)["create_repo"]
    assert create == {"repo_id": REPO, "repo_type": "dataset", "private": True, "exist_ok": True}
    uploaded = {op.path_in_repo: op for op in fake_hub.operations}
    assert set(uploaded) == _dataset_files(out) == {"README.md", "manifest.json", *manifest.outputs}
    for path, op in uploaded.items():  # the bytes on disk, not a stale copy
        assert sha256_file(Path(op.path_or_fileobj)) == sha256_file(out / path)
    assert fake_hub.validated_yaml == [(out / "README.md").read_text()]
    commit = fake_hub.branches["main"]
    tag = dict(fake_hub.calls)["create_tag"]
    assert tag["tag"] == manifest.version and tag["revision"] == commit and tag["repo_type"] == "dataset"
    assert fake_hub.tokens == {TOKEN}  # the --token reached HfApi
    assert f"https://huggingface.co/datasets/{REPO}" in result.output
    assert TOKEN not in result.output and TOKEN not in caplog.text
    assert not [p for p in out.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


def test_token_from_env_and_never_in_errors(out, fake_hub, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", TOKEN)

    def leaky(api, repo_id, **kw):
        raise RuntimeError(f"401 for token {api.token}")

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", leaky)
    result = _run(out, "--repo-id", REPO)
    assert result.exit_code == 1
    assert "creating dataset repo org/mtlendovis-test failed" in result.output and "***" in result.output
    assert TOKEN not in result.output and TOKEN not in caplog.text


def test_no_token_is_an_error_before_any_call(out, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    attempts = forbid_hub(monkeypatch)
    plan = plan_publish(out, REPO)
    with pytest.raises(PublishError, match="hf auth login"):
        publish(plan)
    assert attempts == []


def test_tampered_dataset_refused_before_any_call(out, monkeypatch):
    attempts = forbid_hub(monkeypatch)
    shard = next((out / "data").glob("train-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = _run(out, "--repo-id", REPO, "--token", TOKEN)
    assert result.exit_code == 1
    assert f"data/{shard.name}" in result.output and "sha256 differs" in result.output
    assert attempts == []


def test_edited_card_refused_even_when_rehashed(out, monkeypatch):
    attempts = forbid_hub(monkeypatch)
    readme = out / "README.md"
    readme.write_text(readme.read_text().replace("## Counts", "## Counts (edited)"))
    manifest = Manifest.load(out)
    manifest.outputs["README.md"] = sha256_file(readme)
    manifest.version = manifest.compute_version()
    (out / "manifest.json").write_text(manifest.to_json())
    with pytest.raises(PublishError, match="README.md differs from the card"):
        plan_publish(out, REPO)
    assert attempts == []


def test_public_endovis_needs_rights(out, fake_hub, monkeypatch):
    refused = _run(out, "--repo-id", REPO, "--public", "--token", TOKEN)
    assert refused.exit_code == 1
    assert "refusing a public upload" in refused.output and "non-commercial research" in refused.output
    assert fake_hub.calls == []
    allowed = _run(out, "--repo-id", REPO, "--public", "--i-have-rights", "--token", TOKEN)
    assert allowed.exit_code == 0, allowed.output
    assert "warning" in allowed.output
    assert dict(fake_hub.calls)["create_repo"]["private"] is False


def test_public_esd_needs_no_endovis_rights(tmp_path, fake_hub):
    esd = tmp_path / "esd"
    build(esd, dataset="mtlesd")
    plan = plan_publish(esd, REPO, public=True)
    assert not plan.endovis_derived and not plan.private
    publish(plan, token=TOKEN)
    assert dict(fake_hub.calls)["create_repo"]["private"] is False


def test_dry_run_makes_no_call(out, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    attempts = forbid_hub(monkeypatch)
    manifest = Manifest.load(out)
    result = _run(out, "--repo-id", REPO, "--dry-run", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert attempts == []
    for path in _dataset_files(out):
        assert path in result.output
    assert "report.html" not in result.output and "notes.txt" not in result.output
    assert "(private)" in result.output and f"tag: {manifest.version}" in result.output
    assert "# MTLEndovis" in result.output and "token: found (--token)" in result.output
    assert "nothing was uploaded" in result.output and TOKEN not in result.output


def test_plan_lists_sizes_and_total(out):
    plan = plan_publish(out, REPO, revision="v1")
    sizes = {f.path: f.size for f in plan.files}
    assert sizes == {p: (out / p).stat().st_size for p in _dataset_files(out)}
    assert plan.total_bytes == sum(sizes.values()) and plan.revision == "v1"
    assert [f.path for f in plan.files][:2] == ["README.md", "manifest.json"]


def test_revision_branch_and_stale_shards(out, fake_hub):
    fake_hub.exists, fake_hub.private = True, True
    fake_hub.branches = {"main": "a" * 40}
    fake_hub.remote_files = ["README.md", "data/train-00000-of-00002.parquet", "data/extra.txt"]
    result = publish(plan_publish(out, REPO, revision="review-1"), token=TOKEN)
    assert dict(fake_hub.calls)["create_branch"]["branch"] == "review-1"
    assert dict(fake_hub.calls)["create_commit"]["revision"] == "review-1"
    deleted = {op.path_in_repo for op in fake_hub.operations if type(op).__name__ == "CommitOperationDelete"}
    assert deleted == {"data/train-00000-of-00002.parquet"}
    assert result.url == f"https://huggingface.co/datasets/{REPO}/tree/review-1"
    assert fake_hub.tags[result.tag] == fake_hub.branches["review-1"]


def test_existing_tag_same_commit_is_fine_other_commit_is_refused(out, fake_hub):
    plan = plan_publish(out, REPO)
    first = publish(plan, token=TOKEN)
    again = publish(plan, token=TOKEN)  # same files → the stand-in Hub yields the same commit
    assert again.tag_existed and again.commit == first.commit
    assert fake_hub.names().count("create_tag") == 1
    fake_hub.branches["main"] = "b" * 40  # someone committed since
    n_commits = fake_hub.names().count("create_commit")
    with pytest.raises(PublishError, match=f"tag {plan.tag} already exists on commit {first.commit}"):
        publish(plan, token=TOKEN)
    assert fake_hub.names().count("create_commit") == n_commits  # refused before uploading


def test_existing_public_repo_refused_for_private_plan(out, fake_hub):
    fake_hub.exists, fake_hub.private, fake_hub.branches = True, False, {"main": "c" * 40}
    with pytest.raises(PublishError, match="already exists and is public"):
        publish(plan_publish(out, REPO), token=TOKEN)
    assert "create_commit" not in fake_hub.names()


def test_offline_mode_fails_fast_with_real_hfapi(out, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="OfflineModeIsEnabled"):
        publish(plan_publish(out, REPO), token=TOKEN)


def test_invalid_repo_id_refused(out):
    with pytest.raises(PublishError, match="ORG/NAME"):
        plan_publish(out, "just-a-name")
    with pytest.raises(DatasetError):
        plan_publish(out.parent / "missing", REPO)
