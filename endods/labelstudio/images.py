"""Where review images go: uploaded to the server, or written into its local-files document root.

- `upload="files"` (default): Label Studio's own import API (`commit_to_project=false`, 50 files
  per request) returns `/data/upload/...` URLs. Works with any stock server, remote included.
- `upload="local"`: the PNGs are written under a folder inside the server's
  `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`, the project gets a local-files import storage for
  that folder (the server only serves `/data/local-files/?d=<path relative to the root>` below a
  storage path of a project the user can see), and tasks reference those URLs. The server does no
  upload handling at all, which roughly halves its work per task; it needs the server to read
  this machine's disk (same host, or a shared mount at the same path) with local-files serving on.
  The storage is never synced (that would turn every PNG into an extra task).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from endods.labelstudio.client import LabelStudioError, api_errors, upload_files
from endods.labelstudio.predictions import frame_stem
from schemas.atomic import atomic_write_bytes

UploadMode = Literal["files", "local"]
UPLOAD_MODES: tuple[str, ...] = ("files", "local")
ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
UPLOAD_BATCH = 50
MAX_QUEUED_UPLOADS = 4  # batches waiting for the HTTP thread: bounds the image bytes held in memory
LOCAL_PREFIX = "/data/local-files/?d="


class UploadedImages:
    """Images posted in batches on the shared HTTP thread; URLs resolve once their batch is done."""

    def __init__(self, client: Any, url: str, project_id: int, http: Executor) -> None:
        self._args = (client, url, project_id)
        self._http = http
        self._pending: list[tuple[str, tuple[str, bytes]]] = []
        self._where: dict[str, tuple[Future[list[str]], int]] = {}
        self._queued: deque[Future[list[str]]] = deque()

    def add(self, frame_id: str, png: bytes) -> None:
        self._pending.append((frame_id, (f"{frame_stem(frame_id)}.png", png)))
        if len(self._pending) >= UPLOAD_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        fut = self._http.submit(upload_files, *self._args, [f for _, f in self._pending])
        for i, (fid, _) in enumerate(self._pending):
            self._where[fid] = (fut, i)
        self._pending = []
        self._queued.append(fut)
        while self._queued and (self._queued[0].done() or len(self._queued) > MAX_QUEUED_UPLOADS):
            self._queued.popleft().result()  # waits when the server lags; raises an upload error early

    def resolver(self, frame_ids: list[str]) -> Callable[[], list[str]]:
        """A call returning the URLs of `frame_ids`; run it on the HTTP thread after their uploads."""
        if any(fid not in self._where for fid in frame_ids):
            self.flush()  # submitted before the caller's import job, so done by the time it runs
        where = [self._where.pop(fid) for fid in frame_ids]
        return lambda: [fut.result()[i] for fut, i in where]


class LocalImages:
    """Images written (atomically) into a folder under the server's local-files document root."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder, self.root = folder, root
        self._urls: dict[str, str] = {}

    def add(self, frame_id: str, png: bytes) -> None:
        path = self.folder / f"{frame_stem(frame_id)}.png"
        try:
            atomic_write_bytes(path, png)
        except OSError as exc:
            raise LabelStudioError(f"{path}: cannot write review image ({exc})") from None
        self._urls[frame_id] = LOCAL_PREFIX + quote(path.relative_to(self.root).as_posix(), safe="/")

    def flush(self) -> None:
        pass

    def resolver(self, frame_ids: list[str]) -> Callable[[], list[str]]:
        urls = [self._urls.pop(fid) for fid in frame_ids]
        return lambda: urls


def local_folder(local_root: Path | None, local_dir: Path | None, default_name: str) -> tuple[Path, Path]:
    """(document root, image folder), checked: the root exists here and the folder is strictly below it."""
    raw = local_root or os.environ.get(ROOT_ENV)
    if not raw:
        raise LabelStudioError(
            f"upload='local' needs the server's local-files document root: pass --local-root or set {ROOT_ENV} "
            "(the value the Label Studio server was started with)"
        )
    root = Path(os.path.normpath(Path(raw).absolute()))
    if not root.is_dir():
        raise LabelStudioError(
            f"{root}: local-files document root is not a folder on this machine; upload='local' needs the "
            "server's disk (use upload='files' for a remote server)"
        )
    folder = Path(
        os.path.normpath((root / "endods-review" / default_name) if local_dir is None else local_dir.absolute())
    )
    if root not in folder.parents:
        raise LabelStudioError(
            f"{folder}: image folder is not inside the local-files document root {root} "
            "(Label Studio serves local files only below LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabelStudioError(f"{folder}: cannot create the image folder ({exc})") from None
    return root, folder


def ensure_local_storage(client: Any, url: str, project_id: int, folder: Path) -> None:
    """Give the project a local-files import storage covering `folder` (once; reused on re-export)."""
    with api_errors(url, f"listing local-files storages of project {project_id}"):
        existing = client.import_storage.local.list(project=project_id)
    if any(os.path.normpath(s.path or "") == str(folder) for s in existing):
        return
    with api_errors(url, f"creating a local-files storage for {folder} (is local-files serving enabled?)"):
        client.import_storage.local.create(
            project=project_id,
            path=str(folder),
            use_blob_urls=True,
            synchronizable=False,
            title="endods review images",
            description="Serves the images of endods review tasks. Do not sync: that would add one task per PNG.",
        )
