"""Server-free checks of the export's fast path: RLE identical to the SDK's, ordered pool, local-files setup."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from label_studio_sdk.converter.brush import mask2rle
from lsframes import FRAME_IDS, frame_arrays

from endods.labelstudio import LabelStudioError, export_to_labelstudio
from endods.labelstudio.images import ROOT_ENV, LocalImages, local_folder
from endods.labelstudio.predictions import Prediction
from endods.labelstudio.rle import encode_classes, labels_results
from endods.labelstudio.task_pool import EncodeJob, encode_ordered
from endods.pngio import encode_png
from schemas.labelmaps import MTLENDOVIS


def _sdk(mask: np.ndarray, cid: int) -> list[int]:
    return mask2rle(np.where(mask == cid, 255, 0).astype(np.uint8))


def test_fast_rle_is_exactly_the_sdk_mask2rle() -> None:
    big = np.zeros((1024, 1280), np.uint8)  # real frame size: background runs far beyond 2**16 values
    big[100:700, 200:900] = 3
    big[::7, ::5] = 1  # many single-pixel runs
    big[-1, -1] = 6  # a region on the very last pixel
    big[0, :] = 255  # ignore never sent, still present in the array
    cases = [(frame_arrays(i)[1], [1, 3, 6]) for i in range(4)]
    cases += [(big, [1, 3, 6, 7]), (np.full((64, 80), 2, np.uint8), [2, 5])]  # 7 and 5: absent classes
    for mask, ids in cases:
        fast = encode_classes(mask, ids)
        assert fast == [_sdk(mask, c) for c in ids]
        assert all(type(v) is int for rle in fast for v in rle)


def test_encode_pool_keeps_job_order_and_equals_inline(tmp_path: Path) -> None:
    jobs = []
    for k in range(11):
        image, mask, activity = frame_arrays(k % 6)
        jobs.append(EncodeJob(f"{FRAME_IDS[k % 6]}-{k}", encode_png(mask), (activity + k) % 12))
    pooled = list(encode_ordered(jobs, MTLENDOVIS, workers=2, chunk=2))
    inline = list(encode_ordered(jobs, MTLENDOVIS, workers=0))
    assert pooled == inline and [e.frame_id for e in pooled] == [j.frame_id for j in jobs]
    for job, enc in zip(jobs, pooled, strict=True):
        mask = frame_arrays(int(job.frame_id.rsplit("-", 1)[1]) % 6)[1]
        assert json.loads(enc.result_json) == labels_results(mask, job.activity, MTLENDOVIS)
        assert enc.activity == job.activity and enc.disagreement is None


def test_worker_errors_reach_the_caller_with_the_file_name(tmp_path: Path) -> None:
    mask = frame_arrays(0)[1]
    missing = tmp_path / "masks" / "x.png"
    jobs = [EncodeJob("a", encode_png(mask), 0), EncodeJob("b", encode_png(mask), 0, Prediction(missing, 1))]
    with pytest.raises(LabelStudioError, match=r"masks/x.png: cannot read predicted mask"):
        list(encode_ordered(jobs, MTLENDOVIS, workers=2, chunk=1))


def test_local_folder_checks_root_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    with pytest.raises(LabelStudioError, match=rf"pass --local-root or set {ROOT_ENV}"):
        local_folder(None, None, "ds-1")
    with pytest.raises(LabelStudioError, match="is not a folder on this machine"):
        local_folder(tmp_path / "nope", None, "ds-1")
    for bad in (tmp_path.parent / "elsewhere", tmp_path, tmp_path / "a" / ".." / ".." / "x"):
        with pytest.raises(LabelStudioError, match="is not inside the local-files document root"):
            local_folder(tmp_path, bad, "ds-1")
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    root, folder = local_folder(None, None, "ds-1")
    assert (root, folder) == (tmp_path, tmp_path / "endods-review" / "ds-1") and folder.is_dir()

    images = LocalImages(folder, root)
    images.add("seq 1/frame#7", b"png bytes")
    (url,) = images.resolver(["seq 1/frame#7"])()
    assert url == "/data/local-files/?d=endods-review/ds-1/seq%201__frame%237.png"
    assert (folder / "seq 1__frame#7.png").read_bytes() == b"png bytes"
    assert [p.name for p in folder.iterdir()] == ["seq 1__frame#7.png"]  # no temp file left


def test_bad_upload_settings_fail_before_any_network_call(tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    unreachable = "http://127.0.0.1:9"
    with pytest.raises(LabelStudioError, match=r"upload must be one of files, local, got 'ftp'"):
        export_to_labelstudio(tiny_dataset, unreachable, "k", upload="ftp")  # type: ignore[arg-type]
    with pytest.raises(LabelStudioError, match=r"needs the server's local-files document root"):
        export_to_labelstudio(tiny_dataset, unreachable, "k", upload="local")
