"""Talking to a Label Studio server: credentials, typed errors, and the calls the SDK lacks.

Every SDK/HTTP failure becomes a `LabelStudioError` that names the server, the operation and the
HTTP status/body, never the API key (the SDK's exceptions carry request headers in some paths).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from endods.errors import EndodsError

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
TIMEOUT_S = 300.0  # a 100-image multipart upload or a big JSON import can take a while on a busy server


class LabelStudioError(EndodsError):
    """The server is unreachable, refused a call, or holds data our dataset cannot take back."""


def resolve_credentials(url: str | None, api_key: str | None) -> tuple[str, str]:
    """Options win over `LABEL_STUDIO_URL` / `LABEL_STUDIO_API_KEY`; the key is never echoed."""
    url = url or os.environ.get(URL_ENV, "")
    api_key = api_key or os.environ.get(KEY_ENV, "")
    if not url:
        raise LabelStudioError(f"no Label Studio URL: pass --url or set {URL_ENV}")
    if not api_key:
        raise LabelStudioError(f"no Label Studio API key: set {KEY_ENV} (legacy token or personal access token)")
    return url.rstrip("/"), api_key


@contextlib.contextmanager
def api_errors(url: str, what: str) -> Iterator[None]:
    """Turn SDK/HTTP failures of `what` into one actionable LabelStudioError."""
    try:
        yield
    except ApiError as exc:
        body = _error_text(exc.body)
        hint = " (check LABEL_STUDIO_API_KEY)" if exc.status_code in (401, 403) else ""
        raise LabelStudioError(
            f"Label Studio at {url}: {what} failed with HTTP {exc.status_code}{hint}: {body[:400]}"
        ) from None
    except httpx.HTTPError as exc:
        raise LabelStudioError(
            f"Label Studio at {url}: {what} failed ({type(exc).__name__}: {exc}); is the server running?"
        ) from None


def _error_text(body: Any) -> str:
    """The server's own message (`detail`/`message`) rather than its whole JSON error body."""
    if isinstance(body, dict):
        for key in ("detail", "message", "validation_errors"):
            if body.get(key):
                return str(body[key])
    return body if isinstance(body, str) else json.dumps(body, default=str)


def get_project(client: LabelStudio, url: str, project_id: int) -> Any:
    """The project with this id, or an error saying it does not exist (not the server's 404 body)."""
    try:
        with api_errors(url, f"reading project {project_id}"):
            return client.projects.get(project_id)
    except LabelStudioError as exc:
        if not isinstance(exc.__context__, ApiError) or exc.__context__.status_code != 404:
            raise
    raise LabelStudioError(
        f"Label Studio at {url} has no project {project_id} visible to this API key; "
        f"use the id printed by `endods labelstudio export` (all projects: {url}/projects)"
    )


def connect(url: str, api_key: str) -> LabelStudio:
    """A client whose credentials were checked with one cheap call (fail before any real work)."""
    client = LabelStudio(base_url=url, api_key=api_key, timeout=TIMEOUT_S)
    with api_errors(url, "authentication (GET /api/current-user/whoami)"):
        client.users.whoami()
    return client


def upload_files(client: LabelStudio, url: str, project_id: int, files: Sequence[tuple[str, bytes]]) -> list[str]:
    """Upload files without creating tasks; return their server URLs (`/data/upload/...`) in order.

    The SDK has no multipart import, so this posts through its own HTTP client (which carries the
    auth headers, legacy or JWT) to `/api/projects/{id}/import?commit_to_project=false`, exactly what
    the Label Studio UI does before it builds tasks. Unique form-field names keep the order.
    """
    http = client._client_wrapper.httpx_client  # noqa: SLF001 - the SDK's authenticated client
    form = {f"file{i:05d}": (name, data, "image/png") for i, (name, data) in enumerate(files)}
    with api_errors(url, f"uploading {len(files)} images to project {project_id}"):
        resp = http.request(
            f"api/projects/{project_id}/import",
            method="POST",
            params={"commit_to_project": "false"},
            files=form,
            request_options={"timeout_in_seconds": int(TIMEOUT_S)},
        )
        if resp.status_code >= 400:
            raise ApiError(status_code=resp.status_code, headers=dict(resp.headers), body=resp.text)
        ids = resp.json().get("file_upload_ids", [])
        if len(ids) != len(files):
            raise LabelStudioError(
                f"Label Studio at {url}: uploaded {len(files)} images to project {project_id} "
                f"but got {len(ids)} file ids back"
            )
        by_id = {int(f.id): f.file for f in client.files.list(project_id, ids=json.dumps(ids))}
    missing = [i for i in ids if int(i) not in by_id]
    if missing:
        raise LabelStudioError(f"Label Studio at {url}: file uploads {missing[:5]} not listed after upload")
    return [f"/data/{by_id[int(i)]}" for i in ids]


def import_tasks_json(
    client: LabelStudio, url: str, project_id: int, payload: bytes, count: int, what: str
) -> list[int]:
    """POST a pre-serialized JSON task list to `/api/projects/{id}/import`; the new task ids in order.

    `projects.import_tasks` would run the SDK's `jsonable_encoder` over every RLE integer (~6 ms a
    task); the body here is built from JSON the encoding workers already produced.
    """
    http = client._client_wrapper.httpx_client  # noqa: SLF001 - the SDK's authenticated client
    with api_errors(url, f"importing {what} into project {project_id}"):
        resp = http.request(
            f"api/projects/{project_id}/import",
            method="POST",
            params={"return_task_ids": "true"},
            content=payload,
            headers={"content-type": "application/json"},
            request_options={"timeout_in_seconds": int(TIMEOUT_S)},
        )
        if resp.status_code >= 400:
            raise ApiError(status_code=resp.status_code, headers=dict(resp.headers), body=resp.text)
        ids = resp.json().get("task_ids") or []
    if len(ids) != count:
        raise LabelStudioError(f"Label Studio at {url}: imported {count} tasks ({what}), got {len(ids)} task ids")
    return [int(i) for i in ids]
