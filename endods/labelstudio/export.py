"""Export a built dataset split to a Label Studio project for review (docs/architecture.md, review round trip).

Images reach the server one of two ways (`upload`, see images.py): "files" posts them through
Label Studio's own import API (any stock server, remote included; the default), "local" writes
them into the server's local-files document root (same disk; the server does no upload work).
Tasks are then imported in JSON batches of 250 (tasks.py).

Throughput (2000 1280x1024 frames on 2 cores is the benchmark): brush RLE encoding runs in a
process pool (task_pool.py) while a single HTTP thread uploads images and imports finished task
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

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endods.labelstudio.client import (
    LabelStudioError,
    api_errors,
    connect,
    get_project,
    resolve_credentials,
)
from endods.labelstudio.config import label_config
from endods.labelstudio.disagreement import Disagreement, review_order
from endods.labelstudio.images import (
    UPLOAD_MODES,
    LocalImages,
    UploadedImages,
    UploadMode,
    ensure_local_storage,
    local_folder,
)
from endods.labelstudio.predictions import frame_stem, load_predictions
from endods.labelstudio.task_pool import Encoded, EncodeJob, encode_ordered
from endods.labelstudio.tasks import Images, TaskImports
from schemas.dataset import open_dataset
from schemas.progress import ProgressFn

Phase = Callable[[str], None]


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


def _checked_predictions(predictions: Path, lm: Any, frame_ids: list[str], split: str) -> dict:
    """The predictions of every frame; checked before a project exists, so a mistake leaves nothing on the server."""
    preds = load_predictions(predictions, lm)
    missing = [fid for fid in frame_ids if frame_stem(fid) not in preds]
    if missing:
        raise LabelStudioError(
            f"{predictions}: no prediction for frame {missing[0]!r} (stem {frame_stem(missing[0])}); "
            f"{len(missing)} of {len(frame_ids)} frames of split {split!r} have none"
        )
    return preds


class _Count:
    """Frames done out of `total` in the current phase, reported to the caller's callbacks."""

    def __init__(self, total: int, on_progress: ProgressFn | None, on_phase: Phase | None) -> None:
        self.total, self.done, self._progress, self._phase = total, 0, on_progress, on_phase

    def phase(self, name: str) -> None:
        self.done = 0
        if self._phase:
            self._phase(name)
        self.step(0)

    def step(self, n: int) -> None:
        self.done += n
        if self._progress:
            self._progress(self.done, self.total)


def export_to_labelstudio(
    out: Path,
    url: str | None = None,
    api_key: str | None = None,
    project: int | None = None,
    split: str = "test",
    predictions: Path | None = None,
    on_progress: ProgressFn | None = None,
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
    _check_options(project, title, upload)
    ds = open_dataset(out)
    if split not in ds.splits:
        raise LabelStudioError(f"{out}: no split {split!r} (have: {ds.splits})")
    lm, man = ds.labelmap, ds.manifest
    frame_ids = [fid for fid, f in man.frames.items() if f.get("split") == split]
    preds = _checked_predictions(predictions, lm, frame_ids, split) if predictions is not None else None
    count = _Count(ds.num_rows(split), on_progress, on_phase)  # reads every shard footer: damage fails here
    local = None
    if upload == "local":  # checked before any network call
        local = local_folder(local_root, local_dir, re.sub(r"[^A-Za-z0-9._-]+", "_", f"{man.dataset}-{man.version}"))
    url, api_key = resolve_credentials(url, api_key)
    client = connect(url, api_key)
    title = title or default_title(man.dataset, man.version, split)
    pid, reused, skip = _target_project(client, url, (project, title), label_config(lm), man.version, local)
    if preds is not None and skip and set(frame_ids) <= skip:
        raise LabelStudioError(
            f"project {pid} already holds all {len(frame_ids)} frames of split {split!r}; predictions are "
            "attached when tasks are created, so review them in a new project: leave out --project"
        )
    label_version = f"labels-{man.version}"
    versions = {
        "label_version": label_version,
        "model_version": f"model-{Path(predictions).name}" if predictions is not None else label_version,
    }
    skipped: list[str] = []
    imports, held = _import_tasks(
        (client, url, pid), ds, split, (skip, skipped), (preds, predictions), local, versions, workers, count
    )
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


def _target_project(
    client: Any, url: str, which: tuple[int | None, str], config: str, version: str, local: tuple[Path, Path] | None
) -> tuple[int, bool, set[str]]:
    """(id, reused?, frames held) of project `which[0]` or a new one titled `which[1]`; storage on `local[1]`."""
    pid, reused = _open_project(client, url, which[0], which[1], config)
    skip = _existing_frames(client, url, pid, version) if reused else set()
    if local is not None:
        ensure_local_storage(client, url, pid, local[1])
    return pid, reused, skip


def _check_options(project: int | None, title: str | None, upload: str) -> None:
    if project is not None and title is not None:
        raise LabelStudioError(f"--title names a new project; project {project} already has one: pass one of the two")
    if upload not in UPLOAD_MODES:
        raise LabelStudioError(f"upload must be one of {', '.join(UPLOAD_MODES)}, got {upload!r}")


def _import_tasks(
    target: tuple[Any, str, int],
    ds: Any,
    split: str,
    skips: tuple[set[str], list[str]],
    preds: tuple[Any, Path | None],
    local: tuple[Path, Path] | None,
    versions: dict[str, str],
    workers: int | None,
    count: _Count,
) -> tuple[TaskImports, list[Encoded]]:
    """Encode and import one task per frame not in `skips[0]` (appending skipped ids to `skips[1]`).

    `target`: (client, url, project id); `preds`: (loaded predictions or None, their path); `local`:
    (root, folder) for local-files upload. Returns the imports and the frames held for review order.
    """
    client, url, pid = target
    (skip, skipped), (loaded, predictions) = skips, preds
    lm, man = ds.labelmap, ds.manifest
    http = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelstudio-http")
    try:
        images: Images = LocalImages(local[1], local[0]) if local else UploadedImages(client, url, pid, http)
        meta = {"split": split, "dataset": man.dataset, "dataset_version": man.version, "labelmap": lm}
        imports = TaskImports(client, url, pid, http, images, {**meta, **versions})
        jobs = _jobs(ds, split, skip, skipped, loaded, predictions, images, count.step)
        held = _create_tasks(encode_ordered(jobs, lm, workers), imports, count, skipped, loaded is not None)
    finally:
        http.shutdown(wait=True, cancel_futures=True)
    return imports, held


def _create_tasks(
    encoded: Iterator[Encoded], imports: TaskImports, count: _Count, skipped: list[str], ordered: bool
) -> list[Encoded]:
    """Import every encoded frame; `ordered` (predictions given): all scored first, then in review order.

    Returns the frames held for ordering (empty when not `ordered`).
    """
    held: list[Encoded] = []
    count.phase("scoring frames against the model" if ordered else "creating tasks")
    for enc in encoded:
        if ordered:
            held.append(enc)
            count.step(1)
        else:
            imports.add(enc)  # natural order: import while later frames are still encoding
            imports.collect(count.step, block=False)
    if ordered:
        count.phase("creating tasks")
        count.step(len(skipped))
        by_id = {e.frame_id: e for e in held}
        for d in review_order([e.disagreement for e in held if e.disagreement is not None]):
            imports.add(by_id[d.frame_id])
    imports.flush()
    imports.collect(count.step, block=True)
    return held


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
