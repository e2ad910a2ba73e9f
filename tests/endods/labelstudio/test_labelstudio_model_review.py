"""Model-assisted review on a real Label Studio server: a reviewer who submits the pre-fill keeps the ground truth.

The sequence that once lost a label: export with --predictions, the reviewer opens a task whose
model mask disagrees with the label, submits the pre-filled annotation without edits, import.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from label_studio_sdk import LabelStudio

from endods.dataset import open_dataset
from endods.labelstudio import export_to_labelstudio, frame_stem, import_from_labelstudio
from endods.labelstudio.rle import choice_result, mask_results
from endods.pngio import decode_png
from schemas.labelmaps import MTLENDOVIS

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


def _labels(path: Path) -> dict[str, tuple[np.ndarray, int]]:
    ds = open_dataset(path)
    return {r.frame_id: (decode_png(r.mask), r.activity) for s in ds.splits for r in ds.records(s)}


def _write_predictions(folder: Path, model: dict[str, tuple[np.ndarray, int]]) -> Path:
    (folder / "masks").mkdir(parents=True)
    rows = ["frame,activity," + ",".join(MTLENDOVIS.activities)]
    for fid, (mask, activity) in model.items():
        assert cv2.imwrite(str(folder / "masks" / f"{frame_stem(fid)}.png"), mask)
        rows.append(f"{frame_stem(fid)},{MTLENDOVIS.activities[activity]}," + ",".join(["0.1"] * 12))
    (folder / "activities.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_submitting_the_prefill_keeps_ground_truth_and_model_acceptance_is_recorded(
    labelstudio_server, tiny_dataset: Path, tmp_path: Path
) -> None:
    url, key = labelstudio_server.url, labelstudio_server.token
    base = _labels(tiny_dataset)
    test_ids = [fid for fid, split in open_dataset(tiny_dataset).manifest.frames.items() if split["split"] == "test"]
    model = {}
    for fid in test_ids:  # the model drops class 3 everywhere: every frame disagrees with its label
        mask, activity = base[fid]
        model[fid] = (np.where((mask == 255) | (mask == 3), 0, mask).astype(np.uint8), activity)
    preds = _write_predictions(tmp_path / "pred", model)
    res = export_to_labelstudio(tiny_dataset, url, key, title=f"accept {uuid.uuid4().hex[:8]}", predictions=preds)
    client = LabelStudio(base_url=url, api_key=key)
    selected = client.projects.get(res.project_id).model_version
    assert selected == f"labels-{open_dataset(tiny_dataset).manifest.version}"

    by_version = {}
    for task_id in res.task_ids:
        by_version[task_id] = {p.model_version: p.result for p in client.predictions.list(task=task_id)}
        assert set(by_version[task_id]) == {selected, "model-pred"}
    t_keep, t_model, t_drawn = res.task_ids[:3]
    f_keep, f_model, f_drawn = res.frame_ids[:3]
    # 1. the reviewer submits the pre-filled annotation (the selected prediction) without edits
    client.annotations.create(id=t_keep, result=by_version[t_keep][selected])
    # 2. the reviewer picks the model's prediction in the editor and submits it
    client.annotations.create(id=t_model, result=by_version[t_model]["model-pred"])
    # 3. the reviewer draws: the label plus a block of class 2
    drawn = np.where(base[f_drawn][0] == 255, 0, base[f_drawn][0]).astype(np.uint8)
    drawn[100:120, 100:130] = 2
    client.annotations.create(
        id=t_drawn, result=[*mask_results(drawn, MTLENDOVIS), choice_result(MTLENDOVIS.activities[base[f_drawn][1]])]
    )

    out = tmp_path / "reviewed"
    manifest = import_from_labelstudio(url, key, res.project_id, tiny_dataset, out, workers=2)
    new = _labels(out)
    assert np.array_equal(new[f_keep][0], base[f_keep][0]) and new[f_keep][1] == base[f_keep][1]
    assert (new[f_keep][0] == 3).sum() == (base[f_keep][0] == 3).sum() > 0  # the ground truth survived
    want_model = np.where(base[f_model][0] == 3, 0, base[f_model][0])  # ignore pixels stay ignore
    assert np.array_equal(new[f_model][0], want_model)
    assert manifest.parent is not None
    changed = {c.frame_id: c for c in manifest.parent.changed}
    assert sorted(changed) == sorted([f_model, f_drawn])  # the unchanged submission changed nothing
    assert changed[f_model].model_accepted is True
    assert changed[f_model].mask_pixels_changed == int((base[f_model][0] == 3).sum())
    assert changed[f_drawn].model_accepted is False
    card = (out / "README.md").read_text()
    assert "2 frames changed" in card and "1 took the model's prediction as is and 1 were drawn" in card
