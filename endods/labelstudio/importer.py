"""Take reviewed annotations back from Label Studio into a new dataset version.

Rules (documented in the README):
- per task the latest submitted annotation wins (highest `updated_at`, then id); cancelled
  (skipped) annotations are ignored; a frame without an annotation keeps its base labels;
- the annotation's brush regions replace the frame's mask: a pixel takes the class of the last
  region covering it in the annotation's result order (the region drawn on top in the editor);
  uncovered pixels are background, except pixels that were ignore (255) in the base, which stay
  ignore because Label Studio has no way to show or edit them;
- its single activity choice replaces the activity; no choice keeps the base activity;
- images, group, source, split and facts come unchanged from the base; the new manifest's
  `parent` names the base version, its outputs and sources, the project, and every changed frame;
- a changed frame is `model_accepted` when its submitted labels equal the model's prediction on
  the task (model version `model-...`, see export.py), else it was drawn by the reviewer.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from endods.build import run_pool
from endods.labelstudio.client import LabelStudioError, api_errors, connect, get_project, resolve_credentials
from endods.labelstudio.config import ACTIVITY_FROM, MASK_FROM
from endods.labelstudio.rle import RleSizeError, decode_region
from endods.pngio import decode_png, encode_png
from endods.text import plural
from endods.writer import DATASET_OUTPUT, BuildSession, EncodedFrame
from schemas.dataset import open_dataset
from schemas.labelmaps import IGNORE_INDEX, LabelMap
from schemas.manifest import ChangedFrame, Manifest, Parent
from schemas.outputs import check_output
from schemas.progress import ProgressFn
from schemas.records import natural_key

BASE_KEYS = ("split", "activity", "group")  # manifest frame keys the writer fills itself
MODEL_PREFIX = "model-"  # model version of the export's model predictions (labels are "labels-...")


def _latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    live = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return max(live, key=lambda a: (str(a.get("updated_at") or ""), int(a.get("id") or 0)), default=None)


def fetch_reviewed(
    client: Any, url: str, project_id: int, versions: dict[str, str | None] | None = None
) -> dict[str, tuple[int, dict[str, Any]]]:
    """frame_id -> (task id, latest annotation) for every task that has one.

    ``versions``, when given, receives frame_id -> the ``dataset_version`` the task was exported from.
    """
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    get_project(client, url, project_id)
    with api_errors(url, f"reading tasks of project {project_id}"):
        tasks = [
            t.dict() if hasattr(t, "dict") else dict(t) for t in client.tasks.list(project=project_id, fields="all")
        ]
    for task in tasks:
        ann = _latest_annotation(task)
        if ann is None:
            continue
        data = task.get("data") or {}
        fid = data.get("frame_id")
        if not isinstance(fid, str):
            raise LabelStudioError(f"project {project_id} task {task.get('id')}: no frame_id in task data")
        if fid in out:
            raise LabelStudioError(
                f"project {project_id}: frame {fid!r} is in tasks {out[fid][0]} and {task.get('id')}; keep one"
            )
        out[fid] = (int(task["id"]), ann)
        if versions is not None:
            versions[fid] = data.get("dataset_version")
    return out


def _check_known(reviewed: dict[str, tuple[int, Any]], man: Manifest, project_id: int, base: Path) -> None:
    unknown = sorted(set(reviewed) - set(man.frames))
    if unknown:
        task_id = reviewed[unknown[0]][0]
        raise LabelStudioError(
            f"project {project_id} task {task_id}: frame {unknown[0]!r} is not in base dataset {base} "
            f"(version {man.version}); {plural(len(unknown), 'such task')} - export/import against the same dataset"
        )


def _check_versions(versions: dict[str, str | None], man: Manifest, project_id: int, base: Path) -> None:
    """Reviewed tasks must come from the base version or the version it was imported from.

    Frame ids repeat across builds of different sources (seq_1/frame000 ...), so labels exported from
    another build would otherwise land on this build's images without a word.
    """
    accepted = {man.version, man.parent.version if man.parent else None}
    foreign = sorted((fid for fid, v in versions.items() if v not in accepted), key=natural_key)
    if foreign:
        raise LabelStudioError(
            f"project {project_id}: {plural(len(foreign), 'reviewed task')} (first {foreign[0]!r}) were exported from dataset "
            f"version {versions[foreign[0]]}, but --base {base} is version {man.version}; import into the dataset "
            "that was exported (or pass --any-version if the images are the same)"
        )


def decode_annotation(
    ann: dict[str, Any], base_mask: np.ndarray, base_activity: int, labelmap: LabelMap, where: str
) -> tuple[np.ndarray, int]:
    """(class-id mask, activity index) of one annotation, per the module's rules."""
    height, width = base_mask.shape
    by_name = {c.name: c.id for c in labelmap.classes[1:]}
    mask = np.zeros_like(base_mask)
    activity = base_activity
    results = ann.get("result") or []
    if not isinstance(results, list):
        raise LabelStudioError(f"{where}: annotation result must be a list, got {type(results).__name__}")
    for res in results:
        if not isinstance(res, dict) or not isinstance(res.get("value") or {}, dict):
            raise LabelStudioError(f"{where}: malformed result {str(res)[:80]!r} (expected an object with a value)")
        value, kind = res.get("value") or {}, res.get("type")
        if kind == "brushlabels" and res.get("from_name") == MASK_FROM:
            size = (res.get("original_height"), res.get("original_width"))
            if size != (height, width):
                raise LabelStudioError(f"{where}: brush region is {size[0]}x{size[1]}, the frame is {height}x{width}")
            labels = value.get("brushlabels") or []
            if not isinstance(labels, list):
                labels = [labels]
            unknown = [lab for lab in labels if lab not in by_name]
            if len(labels) != 1 or unknown:
                raise LabelStudioError(
                    f"{where}: brush label {labels!r} is not exactly one of {list(by_name)} ({labelmap.dataset})"
                )
            try:
                region = decode_region(value.get("rle"), height, width)
            except RleSizeError as exc:
                raise LabelStudioError(f"{where}: brush mask refused: {exc}") from None
            mask[region] = by_name[labels[0]]
        elif kind == "choices" and res.get("from_name") == ACTIVITY_FROM:
            choices = value.get("choices") or []
            if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
                raise LabelStudioError(f"{where}: expected one activity choice, got {choices!r}")
            try:
                activity = labelmap.activity_index(choices[0])
            except KeyError as exc:
                raise LabelStudioError(f"{where}: {exc.args[0]}") from None
        else:
            raise LabelStudioError(
                f"{where}: unexpected result type {kind!r} from {res.get('from_name')!r} "
                f"(the review config only has {MASK_FROM!r} brushes and {ACTIVITY_FROM!r} choices)"
            )
    mask[(base_mask == IGNORE_INDEX) & (mask == 0)] = IGNORE_INDEX
    return mask, activity


def fetch_model_results(client: Any, url: str, project_id: int) -> dict[int, list[dict[str, Any]]]:
    """task id -> `result` of the model's prediction on it (tasks exported with --predictions)."""
    with api_errors(url, f"reading predictions of project {project_id}"):
        preds = list(client.predictions.list(project=project_id))
    return {
        int(p.task): list(p.result or [])
        for p in preds
        if str(p.model_version or "").startswith(MODEL_PREFIX) and p.task is not None
    }


def _class_pixels(mask: np.ndarray, labelmap: LabelMap) -> tuple[int, ...]:
    return tuple(int(n) for n in np.bincount(mask.ravel(), minlength=256)[: labelmap.num_classes])


def _change(
    rec: Any, base_mask: np.ndarray, new: tuple[np.ndarray, int], model: list | None, lm: LabelMap, where: str
) -> ChangedFrame | None:
    """The frame's entry in `parent.changed`, or None when the review kept its labels.

    `model_accepted`: the submitted labels equal the model's prediction on the task, decoded by the
    same rules (a reviewer who picked the model's output and submitted it), as opposed to drawn.
    """
    mask, activity = new
    n_changed = int(np.count_nonzero(mask != base_mask))
    if not n_changed and activity == rec.activity:
        return None
    accepted = False
    if model is not None:
        m_mask, m_activity = decode_annotation({"result": model}, base_mask, rec.activity, lm, where + " prediction")
        accepted = m_activity == activity and np.array_equal(m_mask, mask)
    return ChangedFrame(
        frame_id=rec.frame_id,
        mask_pixels_changed=n_changed,
        activity_before=lm.activities[rec.activity],
        activity_after=lm.activities[activity],
        model_accepted=accepted,
    )


def import_from_labelstudio(
    url: str | None,
    api_key: str | None,
    project_id: int,
    base: Path,
    out: Path,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    any_version: bool = False,
    workers: int = 1,
) -> Manifest:
    """Write `out`: the base dataset with every reviewed frame's labels replaced; return its manifest.

    ``any_version`` accepts tasks exported from another dataset version (same frame ids and images).
    ``workers`` threads decode and re-encode frames (PNG work releases the GIL); the output is the same
    for any count.
    """
    check_output(out, DATASET_OUTPUT, overwrite=overwrite, sealed=[base])  # before contacting the server
    ds = open_dataset(base)
    lm, man = ds.labelmap, ds.manifest
    session = BuildSession(out, overwrite=overwrite, sealed=[base])  # output checks before any network call
    url, api_key = resolve_credentials(url, api_key)
    client = connect(url, api_key)
    versions: dict[str, str | None] = {}
    reviewed = fetch_reviewed(client, url, project_id, versions)
    model_results = fetch_model_results(client, url, project_id)
    _check_known(reviewed, man, project_id, Path(base))
    if not any_version:
        _check_versions(versions, man, project_id, Path(base))
    total, done = sum(ds.num_rows(s) for s in ds.splits), 0
    changed: list[ChangedFrame] = []
    review = functools.partial(_review, _Reviews(reviewed, model_results, project_id, lm, man.frames))
    records = (rec for split in ds.splits for rec in ds.records(split))
    with session:
        for frame, change in run_pool(records, review, workers):  # in record order, whatever `workers`
            session.add(frame)
            if change is not None:
                changed.append(change)
            done += 1
            if on_progress:
                on_progress(done, total)
        for d in man.dropped:
            session.drop(d.frame_id, d.reason, d.path)
        return session.finish(
            dataset=man.dataset,
            labelmap=lm,
            split={fid: f["split"] for fid, f in man.frames.items()},
            options=man.options,
            parent=_parent(man, url, project_id, changed),
            provenance={
                "command": "endods labelstudio import",
                "base": str(Path(base).resolve()),
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )


@dataclass(frozen=True)
class _Reviews:
    """What the server returned for a project, and the base dataset's label map and frame facts."""

    reviewed: dict[str, tuple[int, dict]]  # frame id -> (task id, submitted annotation)
    model_results: dict[int, Any]  # task id -> the model prediction's results
    project_id: int
    lm: LabelMap
    frames: dict[str, dict[str, Any]]  # the base manifest's frames


def _review(reviews: _Reviews, rec: Any) -> tuple[EncodedFrame, ChangedFrame | None]:
    """One base record with its reviewed labels (if any) applied, and what changed."""
    lm = reviews.lm
    base_mask = decode_png(rec.mask)
    mask, mask_png, activity, change = base_mask, rec.mask, rec.activity, None
    if rec.frame_id in reviews.reviewed:
        task_id, ann = reviews.reviewed[rec.frame_id]
        where = f"project {reviews.project_id} task {task_id} (frame {rec.frame_id!r})"
        mask, activity = decode_annotation(ann, base_mask, rec.activity, lm, where)
        change = _change(rec, base_mask, (mask, activity), reviews.model_results.get(task_id), lm, where)
        mask_png = encode_png(mask) if change is not None and change.mask_pixels_changed else rec.mask
    facts = {k: v for k, v in reviews.frames.get(rec.frame_id, {}).items() if k not in BASE_KEYS}
    pixels = _class_pixels(mask, lm)
    frame = EncodedFrame(rec.frame_id, rec.group, rec.source, activity, rec.image, mask_png, pixels, facts)
    return frame, change


def _parent(man: Manifest, url: str, project_id: int, changed: list[ChangedFrame]) -> Parent:
    """The manifest's `parent`: the base version, the project the labels came from, and what changed."""
    return Parent(
        version=man.version,
        labelstudio={"url": url, "project": project_id},
        changed=sorted(changed, key=lambda c: natural_key(c.frame_id)),
        dataset=man.dataset,
        outputs=man.outputs,
        sources={k: v.model_dump() for k, v in man.sources.items()},
    )
