"""Export a built dataset split to a Label Studio project for review (DESIGN.md review round trip).

Images reach the server one of two ways (`upload`, see images.py): "files" posts them through
Label Studio's own import API (any stock server, remote included; the default), "local" writes
them into the server's local-files document root (same disk; the server does no upload work).
Tasks are then imported in JSON batches of 250.

Throughput (2000 1280x1024 frames on 2 cores is the benchmark): brush RLE encoding runs in a
process pool (encode.py) while a single HTTP thread uploads images and imports finished task
batches, so encoding batch k+1 overlaps the server's work on batch k. Task bodies are spliced
from JSON the workers produced, bypassing the SDK's per-value request encoding.

Every task's pre-filled annotation is the current label (mask as one brush region per present
class, plus the activity; the project's selected model version is `labels-<version>`), so a
reviewer who submits without edits keeps the ground truth. With `predictions` the model's output is
a second prediction on the same task (model version `model-<folder>`), which the reviewer can pick
in the editor; tasks are then created in disagreement order (task ids follow it, so the default
label stream shows likely label errors first), the tag is shown in the task and both predictions
score 1 - disagreement/2 (lowest first in the data manager). Ordering needs every score first, so
with `predictions` imports start after encoding ends.

Projects are addressed by id: `project` appends to an existing one (same labeling config), else a
new project is created, named `title` (default derived from the dataset).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endods.dataset import open_dataset
from endods.labelstudio.client import (
    LabelStudioError,
    api_errors,
    connect,
    get_project,
    import_tasks_json,
    resolve_credentials,
)
from endods.labelstudio.config import label_config
from endods.labelstudio.disagreement import Disagreement, review_order
from endods.labelstudio.encode import Encoded, EncodeJob, encode_ordered
from endods.labelstudio.images import (
    UPLOAD_MODES,
    LocalImages,
    UploadedImages,
    UploadMode,
    ensure_local_storage,
    local_folder,
)
from endods.labelstudio.predictions import frame_stem, load_predictions

TASK_BATCH = 250
Progress = Callable[[int, int], None]
Phase = Callable[[str], None]
Images = LocalImages | UploadedImages


@dataclass
class ExportResult:
    project_id: int
    project_url: str
    task_ids: list[int]  # in review order
    frame_ids: list[str]  # same order as task_ids
    reused_project: bool = False
    skipped: list[str] = field(default_factory=list)  # already in the reused project
    disagreements: list[Disagreement] = field(default_factory=list)  # review order; empty without predictions


def default_title(dataset: str, version: str, split: str) -> str:
    return f"{dataset} {version} {split} review"


def _open_project(client: Any, url: str, project: int | None, title: str, config: str) -> tuple[int, bool]:
    """(project id, reused): append to `project` when given, else create a project named `title`."""
    if project is None:
        with api_errors(url, f"creating project {title!r}"):
            created = client.projects.create(title=title, label_config=config)
        return int(created.id), False
    existing = get_project(client, url, project).label_config or ""
    if existing.strip() != config.strip():
        raise LabelStudioError(
            f"Label Studio project {project} at {url} has a different labeling config "
            "(another dataset or label map); leave out --project to create a new project"
        )
    return project, True


def _existing_frames(client: Any, url: str, pid: int, version: str) -> set[str]:
    """Frame ids already exported from this dataset version into a reused project (resume)."""
    with api_errors(url, f"listing tasks of project {pid}"):
        return {
            t.data.get("frame_id")
            for t in client.tasks.list(project=pid, fields="all")
            if t.data and t.data.get("dataset_version") == version
        }


class _TaskImports:
    """Batches encoded frames into JSON imports on the HTTP thread; reports progress in the caller's thread."""

    def __init__(self, client: Any, url: str, pid: int, http: ThreadPoolExecutor, images: Images, meta: dict) -> None:
        self._client, self._url, self._pid, self._http, self._images = client, url, pid, http, images
        self._meta = meta  # split, dataset, dataset_version, label_version, model_version, labelmap
        self._batch: list[Encoded] = []
        self._futures: deque[tuple[int, Future[list[int]]]] = deque()
        self.task_ids: list[int] = []
        self.frame_ids: list[str] = []

    def add(self, enc: Encoded) -> None:
        self._batch.append(enc)
        self.frame_ids.append(enc.frame_id)
        if len(self._batch) >= TASK_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        batch, first = self._batch, len(self.frame_ids) - len(self._batch) + 1
        resolve = self._images.resolver([e.frame_id for e in batch])
        self._futures.append((len(batch), self._http.submit(self._run, batch, first, resolve)))
        self._batch = []

    def _run(self, batch: list[Encoded], first: int, resolve: Callable[[], list[str]]) -> list[int]:
        tasks = [
            self._task_json(e, image, rank) for rank, (e, image) in enumerate(zip(batch, resolve(), strict=True), first)
        ]
        payload = ("[" + ",".join(tasks) + "]").encode()
        what = f"tasks {first}-{first + len(batch) - 1}"
        return import_tasks_json(self._client, self._url, self._pid, payload, len(batch), what)

    def _task_json(self, enc: Encoded, image: str, rank: int) -> str:
        m, d = self._meta, enc.disagreement
        data = {
            "image": image,
            "frame_id": enc.frame_id,
            "split": m["split"],
            "dataset": m["dataset"],
            "dataset_version": m["dataset_version"],
            "activity_label": m["labelmap"].activities[enc.activity],
            "review": d.tag() if d else "current labels (no model predictions)",
            "disagreement": d.score if d else 0.0,
            "review_rank": rank,
        }
        score = round(1.0 - d.score / 2.0, 6) if d else 1.0
        preds = [_prediction_json(m["label_version"], score, enc.result_json)]  # first: the pre-fill
        if enc.model_json is not None:
            preds.append(_prediction_json(m["model_version"], score, enc.model_json))
        return f'{{"data":{json.dumps(data)},"predictions":[{",".join(preds)}]}}'

    def collect(self, step: Callable[[int], None], block: bool) -> None:
        """Take finished imports in order (all of them when `block`); the first failure raises here."""
        while self._futures and (block or self._futures[0][1].done()):
            count, fut = self._futures.popleft()
            self.task_ids.extend(fut.result())
            step(count)


def _prediction_json(model_version: str, score: float, result_json: str) -> str:
    head = json.dumps({"model_version": model_version, "score": score})
    return f'{head[:-1]},"result":{result_json}}}'


def export_to_labelstudio(
    out: Path,
    url: str | None = None,
    api_key: str | None = None,
    project: int | None = None,
    split: str = "test",
    predictions: Path | None = None,
    on_progress: Progress | None = None,
    upload: UploadMode = "files",
    local_root: Path | None = None,
    local_dir: Path | None = None,
    workers: int | None = None,
    title: str | None = None,
    on_phase: Phase | None = None,
) -> ExportResult:
    """Add one task per frame of `split` to project id `project`, or to a new project named `title`.

    `on_progress(done, total)` counts frames: tasks created (or skipped as already there); with
    `predictions` a first phase counts frames scored against the model. `on_phase` receives each
    phase's name before its first count. `upload`: "files" (import API; any server) or "local" (write into `local_root`, the server's
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, default from that variable; images go to `local_dir`,
    default `<root>/endods-review/<dataset>-<version>`). `workers`: encoding processes (default:
    one per CPU; 0 encodes in this process).
    """
    if project is not None and title is not None:
        raise LabelStudioError(f"--title names a new project; project {project} already has one: pass one of the two")
    if upload not in UPLOAD_MODES:
        raise LabelStudioError(f"upload must be one of {', '.join(UPLOAD_MODES)}, got {upload!r}")
    ds = open_dataset(out)
    if split not in ds.splits:
        raise LabelStudioError(f"{out}: no split {split!r} (have: {ds.splits})")
    lm, man = ds.labelmap, ds.manifest
    preds = load_predictions(predictions, lm) if predictions is not None else None
    frame_ids = [fid for fid, f in man.frames.items() if f.get("split") == split]
    if preds is not None:  # checked before a project exists, so a mistake leaves nothing on the server
        missing = [fid for fid in frame_ids if frame_stem(fid) not in preds]
        if missing:
            raise LabelStudioError(
                f"{predictions}: no prediction for frame {missing[0]!r} (stem {frame_stem(missing[0])}); "
                f"{len(missing)} of {len(frame_ids)} frames of split {split!r} have none"
            )
    total, done = ds.num_rows(split), 0  # reads every shard footer: a damaged dataset fails here
    local = None
    if upload == "local":  # checked before any network call
        local = local_folder(local_root, local_dir, re.sub(r"[^A-Za-z0-9._-]+", "_", f"{man.dataset}-{man.version}"))
    url, api_key = resolve_credentials(url, api_key)
    client = connect(url, api_key)
    title = title or default_title(man.dataset, man.version, split)
    pid, reused = _open_project(client, url, project, title, label_config(lm))
    skip = _existing_frames(client, url, pid, man.version) if reused else set()
    if local is not None:
        ensure_local_storage(client, url, pid, local[1])
    if preds is not None and skip and set(frame_ids) <= skip:
        raise LabelStudioError(
            f"project {pid} already holds all {len(frame_ids)} frames of split {split!r}; predictions are "
            "attached when tasks are created, so review them in a new project: leave out --project"
        )
    label_version = f"labels-{man.version}"
    model_version = f"model-{Path(predictions).name}" if predictions is not None else label_version

    def phase(name: str) -> None:
        nonlocal done
        done = 0
        if on_phase:
            on_phase(name)
        if on_progress:
            on_progress(0, total)

    def step(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, total)

    skipped: list[str] = []
    held: list[Encoded] = []  # with predictions: every frame, until the review order is known
    http = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelstudio-http")
    try:
        images: Images = LocalImages(local[1], local[0]) if local else UploadedImages(client, url, pid, http)
        meta = {"split": split, "dataset": man.dataset, "dataset_version": man.version, "labelmap": lm}
        versions = {"label_version": label_version, "model_version": model_version}
        imports = _TaskImports(client, url, pid, http, images, {**meta, **versions})
        phase("creating tasks" if preds is None else "scoring frames against the model")
        for enc in encode_ordered(_jobs(ds, split, skip, skipped, preds, predictions, images, step), lm, workers):
            if preds is None:
                imports.add(enc)  # natural order: import while later frames are still encoding
                imports.collect(step, block=False)
            else:
                held.append(enc)
                step(1)
        if preds is not None:
            phase("creating tasks")
            step(len(skipped))
            by_id = {e.frame_id: e for e in held}
            for d in review_order([e.disagreement for e in held if e.disagreement is not None]):
                imports.add(by_id[d.frame_id])
        imports.flush()
        imports.collect(step, block=True)
    finally:
        http.shutdown(wait=True, cancel_futures=True)
    with api_errors(url, f"selecting predictions {label_version!r} (the current labels) for pre-labelling"):
        client.projects.update(pid, model_version=label_version)
    scores = [e.disagreement for e in held if e.disagreement is not None]
    return ExportResult(
        project_id=pid,
        project_url=f"{url}/projects/{pid}/data",
        task_ids=imports.task_ids,
        frame_ids=imports.frame_ids,
        reused_project=reused,
        skipped=skipped,
        disagreements=review_order(scores),
    )


def _jobs(
    ds: Any,
    split: str,
    skip: set[str],
    skipped: list[str],
    preds: dict | None,
    predictions: Path | None,
    images: Images,
    step: Callable[[int], None],
) -> Iterator[EncodeJob]:
    """Encoding jobs in frame order; hands each image to `images` on the way (runs in the caller's thread)."""
    for rec in ds.records(split):
        if rec.frame_id in skip:
            skipped.append(rec.frame_id)
            step(1)
            continue
        pred = None
        if preds is not None:
            stem = frame_stem(rec.frame_id)
            if stem not in preds:
                raise LabelStudioError(f"{predictions}: no prediction for frame {rec.frame_id!r} (stem {stem})")
            pred = preds[stem]
        images.add(rec.frame_id, rec.image)
        yield EncodeJob(rec.frame_id, rec.mask, rec.activity, pred)
    images.flush()
