"""Export a built dataset split to a Label Studio project for review (DESIGN.md review round trip).

Images travel as files through Label Studio's own import API (`commit_to_project=false`, 50 per
request), then tasks referencing the returned `/data/upload/...` URLs are imported in JSON batches
with one prediction each. That works with any stock server, local or remote, with no shared
filesystem and no storage setup; the alternatives were worse: data URLs bloat every task row and
the data manager, local-files storage needs the server to see our disk. Encoding (mask decode +
brush RLE) overlaps with the previous batch's upload, which runs in a second thread.

The prediction on a task is the current label (mask as one brush region per present class, plus
the activity), or with `predictions` the model's output; then tasks are created in disagreement
order (task ids follow it, so the default label stream shows likely label errors first), the tag
is shown in the task and `prediction.score` = 1 - disagreement/2 (lowest first in the data manager).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endods.dataset import open_dataset
from endods.labelstudio.client import (
    LabelStudioError,
    api_errors,
    connect,
    find_project,
    resolve_credentials,
    upload_files,
)
from endods.labelstudio.config import label_config
from endods.labelstudio.disagreement import Disagreement, review_order, score_frame
from endods.labelstudio.predictions import frame_stem, load_predictions, read_prediction_mask
from endods.labelstudio.rle import labels_results
from endods.pngio import decode_png

UPLOAD_BATCH = 50
TASK_BATCH = 250
Progress = Callable[[int, int], None]


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


def _open_project(client: Any, url: str, title: str, config: str) -> tuple[int, bool]:
    pid = find_project(client, url, title)
    if pid is None:
        with api_errors(url, f"creating project {title!r}"):
            created = client.projects.create(title=title, label_config=config)
        return int(created.id), False
    with api_errors(url, f"reading project {pid}"):
        existing = client.projects.get(pid).label_config or ""
    if existing.strip() != config.strip():
        raise LabelStudioError(
            f"Label Studio project {title!r} (id {pid}) at {url} has a different labeling config "
            "(another dataset or label map); pass another --project name"
        )
    return pid, True


def _existing_frames(client: Any, url: str, pid: int, version: str) -> set[str]:
    """Frame ids already exported from this dataset version into a reused project (resume)."""
    with api_errors(url, f"listing tasks of project {pid}"):
        return {
            t.data.get("frame_id")
            for t in client.tasks.list(project=pid, fields="all")
            if t.data and t.data.get("dataset_version") == version
        }


def export_to_labelstudio(
    out: Path,
    url: str | None = None,
    api_key: str | None = None,
    project: str | None = None,
    split: str = "test",
    predictions: Path | None = None,
    on_progress: Progress | None = None,
) -> ExportResult:
    """Create (or reuse by title) a review project and add one task per frame of `split`."""
    ds = open_dataset(out)
    if split not in ds.splits:
        raise LabelStudioError(f"{out}: no split {split!r} (have: {ds.splits})")
    lm, man = ds.labelmap, ds.manifest
    preds = load_predictions(predictions, lm) if predictions is not None else None
    url, api_key = resolve_credentials(url, api_key)
    client = connect(url, api_key)
    title = project or default_title(man.dataset, man.version, split)
    pid, reused = _open_project(client, url, title, label_config(lm))
    skip = _existing_frames(client, url, pid, man.version) if reused else set()
    total = ds.num_rows(split) * 2
    done = 0
    model_version = f"model-{Path(predictions).name}" if predictions is not None else f"labels-{man.version}"

    tasks: dict[str, dict[str, Any]] = {}
    scores: dict[str, Disagreement] = {}
    skipped: list[str] = []
    uploads: list[tuple[list[str], Future[list[str]]]] = []
    batch_ids: list[str] = []
    batch_files: list[tuple[str, bytes]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:

        def flush() -> None:
            if batch_files:
                uploads.append((list(batch_ids), pool.submit(upload_files, client, url, pid, list(batch_files))))
                batch_ids.clear()
                batch_files.clear()

        for rec in ds.records(split):
            done += 1
            if rec.frame_id in skip:
                skipped.append(rec.frame_id)
                done += 1
                continue
            mask = decode_png(rec.mask)
            activity = rec.activity
            pred_mask, pred_activity = mask, activity
            if preds is not None:
                stem = frame_stem(rec.frame_id)
                if stem not in preds:
                    raise LabelStudioError(f"{predictions}: no prediction for frame {rec.frame_id!r} (stem {stem})")
                pred_mask = read_prediction_mask(preds[stem], mask.shape, lm)
                pred_activity = preds[stem].activity
                scores[rec.frame_id] = score_frame(rec.frame_id, mask, activity, pred_mask, pred_activity, lm)
            d = scores.get(rec.frame_id)
            tasks[rec.frame_id] = {
                "data": {
                    "frame_id": rec.frame_id,
                    "split": split,
                    "dataset": man.dataset,
                    "dataset_version": man.version,
                    "activity_label": lm.activities[activity],
                    "review": d.tag() if d else "current labels (no model predictions)",
                    "disagreement": d.score if d else 0.0,
                },
                "predictions": [
                    {
                        "model_version": model_version,
                        "score": round(1.0 - d.score / 2.0, 6) if d else 1.0,
                        "result": labels_results(pred_mask, pred_activity, lm),
                    }
                ],
            }
            batch_ids.append(rec.frame_id)
            batch_files.append((f"{frame_stem(rec.frame_id)}.png", rec.image))
            if len(batch_files) >= UPLOAD_BATCH:
                flush()
            if on_progress:
                on_progress(done, total)
        flush()
        for ids, fut in uploads:
            for fid, image_url in zip(ids, fut.result(), strict=True):
                tasks[fid]["data"]["image"] = image_url

    order = [d.frame_id for d in review_order(list(scores.values()))] if preds is not None else list(tasks)
    task_ids: list[int] = []
    for start in range(0, len(order), TASK_BATCH):
        chunk = order[start : start + TASK_BATCH]
        payload = []
        for rank, fid in enumerate(chunk, start=start + 1):
            tasks[fid]["data"]["review_rank"] = rank
            payload.append(tasks[fid])
        with api_errors(url, f"importing tasks {start + 1}-{start + len(chunk)} into project {pid}"):
            resp = client.projects.import_tasks(pid, request=payload, return_task_ids=True)
        ids = list(resp.task_ids or [])
        if len(ids) != len(chunk):
            raise LabelStudioError(f"Label Studio at {url}: imported {len(chunk)} tasks, got {len(ids)} task ids")
        task_ids.extend(int(i) for i in ids)
        done += len(chunk)
        if on_progress:
            on_progress(done, total)
    with api_errors(url, f"selecting predictions {model_version!r} for pre-labelling"):
        client.projects.update(pid, model_version=model_version)
    return ExportResult(
        project_id=pid,
        project_url=f"{url}/projects/{pid}/data",
        task_ids=task_ids,
        frame_ids=order,
        reused_project=reused,
        skipped=skipped,
        disagreements=review_order(list(scores.values())),
    )
