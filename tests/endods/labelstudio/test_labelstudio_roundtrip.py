"""Round trip against a real Label Studio server: export, annotate through the API, import."""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from label_studio_sdk import LabelStudio

from endods.dataset import open_dataset
from endods.labelstudio import LabelStudioError, export_to_labelstudio, frame_stem, import_from_labelstudio
from endods.labelstudio.rle import choice_result, decode_region, mask_results
from endods.pngio import decode_png
from schemas.labelmaps import MTLENDOVIS

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


def _records(path: Path) -> dict[str, tuple[str, np.ndarray, np.ndarray, int, bytes]]:
    ds = open_dataset(path)
    return {
        r.frame_id: (split, decode_png(r.image), decode_png(r.mask), r.activity, r.image)
        for split in ds.splits
        for r in ds.records(split)
    }


def _decode_prediction(result: list[dict], shape: tuple[int, int]) -> tuple[dict[str, np.ndarray], list]:
    regions, choices = {}, []
    for res in result:
        if res["type"] == "brushlabels":
            (label,) = res["value"]["brushlabels"]
            assert label not in regions
            regions[label] = decode_region(res["value"]["rle"], *shape)
        else:
            choices.append(res["value"]["choices"])
    return regions, choices


@pytest.mark.parametrize("upload", ["files", "local"])
def test_export_predictions_lossless_then_import_applies_exactly_the_review(
    labelstudio_server, tiny_dataset: Path, tmp_path: Path, upload: str
) -> None:
    url, key = labelstudio_server.url, labelstudio_server.token
    base = _records(tiny_dataset)
    progress: list[tuple[int, int]] = []
    title = f"roundtrip {uuid.uuid4().hex[:8]}"
    mode = {"upload": upload, "local_root": labelstudio_server.document_root if upload == "local" else None}
    res = export_to_labelstudio(
        tiny_dataset, url, key, title=title, on_progress=lambda d, t: progress.append((d, t)), **mode
    )
    test_ids = [f for f, v in base.items() if v[0] == "test"]
    assert res.frame_ids == test_ids and len(res.task_ids) == 4 and not res.reused_project
    assert progress[-1] == (4, 4)  # counts frames (tasks), not steps

    client = LabelStudio(base_url=url, api_key=key)
    version = open_dataset(tiny_dataset).manifest.version
    for task_id, fid in zip(res.task_ids, res.frame_ids, strict=True):
        task = client.tasks.get(task_id)
        assert task.data["frame_id"] == fid and task.data["split"] == "test"
        prefix = "/data/upload/" if upload == "files" else "/data/local-files/?d=endods-review/mtlendovis-"
        assert task.data["dataset_version"] == version and task.data["image"].startswith(prefix)
        _, image, mask, activity, image_png = base[fid]
        # the uploaded (or locally written) image is served back byte-identical
        served = httpx.get(url + task.data["image"], headers={"Authorization": f"Token {key}"})
        assert served.status_code == 200 and served.content == image_png
        (pred,) = client.predictions.list(task=task_id)
        regions, choices = _decode_prediction(pred.result, mask.shape)
        assert choices == [[MTLENDOVIS.activities[activity]]]
        present = [c for c in MTLENDOVIS.classes[1:] if (mask == c.id).any()]
        assert sorted(regions) == sorted(c.name for c in present)
        for c in present:
            assert np.array_equal(regions[c.name], mask == c.id), (fid, c.name)

    # review: task 0 changes activity only, task 1 repaints a block to class 2, task 2 re-submits as-is
    f0, f1, f2 = res.frame_ids[:3]
    t0, t1, t2 = res.task_ids[:3]
    m0, a0 = base[f0][2], base[f0][3]
    new_activity = (a0 + 5) % MTLENDOVIS.num_activities
    edited = base[f1][2].copy()
    edited[20:40, 20:50] = 2
    client.annotations.create(
        id=t0,
        result=[
            *mask_results(np.where(m0 == 255, 0, m0), MTLENDOVIS),
            choice_result(MTLENDOVIS.activities[new_activity]),
        ],
    )
    client.annotations.create(
        id=t1,
        result=[
            *mask_results(np.where(edited == 255, 0, edited), MTLENDOVIS),
            choice_result(MTLENDOVIS.activities[base[f1][3]]),
        ],
    )
    m2 = base[f2][2]
    client.annotations.create(
        id=t2,
        result=[
            *mask_results(np.where(m2 == 255, 0, m2), MTLENDOVIS),
            choice_result(MTLENDOVIS.activities[base[f2][3]]),
        ],
    )

    out = tmp_path / "reviewed"
    manifest = import_from_labelstudio(url, key, res.project_id, tiny_dataset, out)
    new = _records(out)
    assert sorted(new) == sorted(base)
    for fid, (split, _image, mask, activity, image_png) in base.items():
        n_split, _, n_mask, n_activity, n_png = new[fid]
        assert n_split == split and n_png == image_png
        want_mask = edited if fid == f1 else mask
        want_activity = new_activity if fid == f0 else activity
        assert np.array_equal(n_mask, want_mask), fid
        assert n_activity == want_activity, fid
    changed = int(np.count_nonzero(edited != base[f1][2]))
    assert changed == 20 * 30 - int(np.count_nonzero(base[f1][2][20:40, 20:50] == 2))
    parent = manifest.parent
    assert parent is not None and parent.version == version
    assert parent.labelstudio == {"url": url, "project": res.project_id}
    assert [c.model_dump() for c in parent.changed] == sorted(
        [
            {
                "frame_id": f0,
                "mask_pixels_changed": 0,
                "activity_before": MTLENDOVIS.activities[a0],
                "activity_after": MTLENDOVIS.activities[new_activity],
                "model_accepted": False,
            },
            {
                "frame_id": f1,
                "mask_pixels_changed": changed,
                "activity_before": MTLENDOVIS.activities[base[f1][3]],
                "activity_after": MTLENDOVIS.activities[base[f1][3]],
                "model_accepted": False,
            },
        ],
        key=lambda c: c["frame_id"],
    )
    assert manifest.frames[f0]["states"] == base_facts(tiny_dataset, f0)
    assert key not in (out / "manifest.json").read_text()

    # re-export into the same project: reused, nothing duplicated
    again = export_to_labelstudio(tiny_dataset, url, key, project=res.project_id, **mode)
    assert again.reused_project and again.task_ids == [] and again.skipped == test_ids
    storages = client.import_storage.local.list(project=res.project_id)
    assert len(storages) == (1 if upload == "local" else 0)  # the local-files storage is created once


def base_facts(path: Path, fid: str) -> list:
    return open_dataset(path).manifest.frames[fid]["states"]


def test_import_rejects_task_for_frame_not_in_base(labelstudio_server, tiny_dataset: Path, tmp_path: Path) -> None:
    url, key = labelstudio_server.url, labelstudio_server.token
    res = export_to_labelstudio(tiny_dataset, url, key, title=f"stray {uuid.uuid4().hex[:8]}", split="train")
    client = LabelStudio(base_url=url, api_key=key)
    imported = client.projects.import_tasks(
        res.project_id,
        request=[{"data": {"image": "/nothing.png", "frame_id": "seq_9/frame999", "review": ""}}],
        return_task_ids=True,
    )
    (stray,) = imported.task_ids
    client.annotations.create(id=stray, result=[choice_result("cutting")])
    with pytest.raises(LabelStudioError, match=rf"task {stray}: frame 'seq_9/frame999' is not in base dataset"):
        import_from_labelstudio(url, key, res.project_id, tiny_dataset, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_bad_api_key_is_a_clear_error_without_the_key(labelstudio_server, tiny_dataset: Path) -> None:
    bad = "0" * 40
    with pytest.raises(LabelStudioError, match="HTTP 401") as info:
        export_to_labelstudio(tiny_dataset, labelstudio_server.url, bad)
    assert bad not in str(info.value) and labelstudio_server.token not in str(info.value)


def test_export_with_predictions_orders_tasks_by_disagreement(
    labelstudio_server, tiny_dataset: Path, tmp_path: Path
) -> None:
    url, key = labelstudio_server.url, labelstudio_server.token
    base = _records(tiny_dataset)
    test_ids = [f for f, v in base.items() if v[0] == "test"]  # natural order: frame001, 002, 004, 005
    preds = tmp_path / "pred"
    (preds / "masks").mkdir(parents=True)
    model = {}
    rows = ["frame,activity," + ",".join(MTLENDOVIS.activities)]
    for fid in test_ids:
        _, _, mask, activity, _ = base[fid]
        m = np.where(mask == 255, 0, mask)
        if fid == test_ids[2]:
            activity = (activity + 1) % MTLENDOVIS.num_activities  # mismatch: score >= 1
        if fid == test_ids[3]:
            m = np.where(m == 3, 0, m)  # class 3 vanishes: IoU 0, score 1
            m[10:50, 10:20] = np.where(m[10:50, 10:20] == 1, 0, 1)  # ... and class 1 disagrees a bit
        model[fid] = (m, activity)
        assert cv2.imwrite(str(preds / "masks" / f"{frame_stem(fid)}.png"), m)
        rows.append(f"{frame_stem(fid)},{MTLENDOVIS.activities[activity]}," + ",".join(["0.1"] * 12))
    (preds / "activities.csv").write_text("\n".join(rows) + "\n")

    res = export_to_labelstudio(tiny_dataset, url, key, title=f"pred {uuid.uuid4().hex[:8]}", predictions=preds)
    # test_ids[2] has an activity mismatch and IoU 1 (score 1.0); test_ids[3] IoU 0 for class 3 (score 1.0):
    # tie -> natural order; the two agreeing frames follow in natural order
    assert res.frame_ids == [test_ids[2], test_ids[3], test_ids[0], test_ids[1]]
    assert res.task_ids == sorted(res.task_ids)
    assert [d.score for d in res.disagreements] == [1.0, 1.0, 0.0, 0.0]
    client = LabelStudio(base_url=url, api_key=key)
    for rank, (task_id, fid) in enumerate(zip(res.task_ids, res.frame_ids, strict=True), start=1):
        task = client.tasks.get(task_id)
        assert task.data["review_rank"] == rank and task.data["frame_id"] == fid
        label_pred, pred = client.predictions.list(task=task_id)  # the current label first, then the model
        assert label_pred.model_version == f"labels-{open_dataset(tiny_dataset).manifest.version}"
        assert pred.model_version == "model-pred" and pred.score == label_pred.score
        regions, choices = _decode_prediction(pred.result, base[fid][2].shape)
        m, activity = model[fid]
        assert choices == [[MTLENDOVIS.activities[activity]]]
        assert sorted(regions) == sorted(MTLENDOVIS.classes[c].name for c in np.unique(m) if c)
        for name, region in regions.items():
            assert np.array_equal(region, m == MTLENDOVIS.class_names.index(name))
    assert client.tasks.get(res.task_ids[0]).data["review"].startswith("activity: label ")
    assert "Monopolar Curved Scissors 0.00" not in client.tasks.get(res.task_ids[1]).data["review"]
    assert "Large Needle Driver 0.00" in client.tasks.get(res.task_ids[1]).data["review"]

    # predictions for an existing project's frames: a clear message, not the server's HTTP 400
    plain = export_to_labelstudio(tiny_dataset, url, key, title=f"plain {uuid.uuid4().hex[:8]}")
    with pytest.raises(LabelStudioError, match=r"already holds all 4 frames .* leave out --project"):
        export_to_labelstudio(tiny_dataset, url, key, project=plain.project_id, predictions=preds)
    # a frame without a prediction fails before any project exists
    (preds / "masks" / f"{frame_stem(test_ids[1])}.png").unlink()
    csv_rows = (preds / "activities.csv").read_text().splitlines()
    (preds / "activities.csv").write_text("\n".join(r for r in csv_rows if not r.startswith(frame_stem(test_ids[1]))))
    lonely = f"missing {uuid.uuid4().hex[:8]}"
    with pytest.raises(LabelStudioError, match=rf"no prediction for frame {test_ids[1]!r}.*1 of 4 frames"):
        export_to_labelstudio(tiny_dataset, url, key, title=lonely, predictions=preds)
    assert lonely not in [p.title for p in client.projects.list()]


def test_import_refuses_tasks_exported_from_another_build(
    labelstudio_server, tiny_dataset: Path, tmp_path: Path
) -> None:
    url, key = labelstudio_server.url, labelstudio_server.token
    res = export_to_labelstudio(tiny_dataset, url, key, title=f"other {uuid.uuid4().hex[:8]}", split="train")
    client = LabelStudio(base_url=url, api_key=key)
    fid = next(iter(open_dataset(tiny_dataset).manifest.frames))
    imported = client.projects.import_tasks(  # same frame id, but exported from a different build
        res.project_id,
        request=[{"data": {"image": "/x.png", "frame_id": fid, "dataset_version": "0123456789ab", "review": ""}}],
        return_task_ids=True,
    )
    # drop the matching task of our own export so the stray one is the frame's only task
    own = [t.id for t in client.tasks.list(project=res.project_id) if (t.data or {}).get("frame_id") == fid]
    for task_id in own:
        if task_id not in imported.task_ids:
            client.tasks.delete(id=task_id)
    client.annotations.create(id=imported.task_ids[0], result=[choice_result("cutting")])
    with pytest.raises(LabelStudioError, match=r"exported from dataset version 0123456789ab, but --base"):
        import_from_labelstudio(url, key, res.project_id, tiny_dataset, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    manifest = import_from_labelstudio(url, key, res.project_id, tiny_dataset, tmp_path / "y", any_version=True)
    assert manifest.frames[fid]["activity"] == "cutting"
