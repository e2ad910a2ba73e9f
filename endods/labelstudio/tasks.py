"""Task JSON for Label Studio imports: the current label as the pre-fill, the model as a second prediction.

`TaskImports` batches encoded frames (task_pool.py) into JSON imports of `TASK_BATCH` tasks on the
exporter's HTTP thread. Each task carries the current label as its first prediction (model version
`labels-<version>`, the project's selected pre-fill) and, when predictions were given, the model's
output as a second one (`model-<folder>`) that a reviewer can pick in the editor.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from endods.labelstudio.client import import_tasks_json
from endods.labelstudio.images import LocalImages, UploadedImages
from endods.labelstudio.task_pool import Encoded

TASK_BATCH = 250
Images = LocalImages | UploadedImages


class TaskImports:
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
