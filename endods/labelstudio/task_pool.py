"""Turn frames into prediction JSON in worker processes, in order, with bounded memory.

Brush RLE encoding (the SDK's `encode_rle`, pure Python over every run) is the exporter's main
client-side cost (~8 ms per class on a 1280x1024 frame), so it runs in a process pool: jobs carry
only the mask PNG (tens of KB, never the image), go out in chunks, and come back in submission
order with the prediction `result` already serialized to JSON (the SDK's `jsonable_encoder` would
otherwise walk every RLE integer again in the parent: ~6 ms per task). At most `2 * workers + 2`
chunks are in flight, so a long split never piles up in memory. `workers=0` encodes in-process.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice

from endods.labelstudio.disagreement import Disagreement, score_frame
from endods.labelstudio.predictions import Prediction, read_prediction_mask
from endods.labelstudio.rle import labels_results
from endods.pngio import decode_png
from schemas.labelmaps import LabelMap

CHUNK = 8  # frames per pool job: large enough to amortize pickling, small enough to keep workers busy


@dataclass(frozen=True)
class EncodeJob:
    frame_id: str
    mask_png: bytes
    activity: int
    prediction: Prediction | None = None  # None: the prediction is the current label


@dataclass(frozen=True)
class Encoded:
    frame_id: str
    activity: int  # the label's activity (shown in the task)
    result_json: str  # the current label (mask + activity) as a prediction `result` list, serialized
    disagreement: Disagreement | None
    model_json: str | None = None  # the model's output as a second `result` list, when predictions are given


def encode_job(job: EncodeJob, labelmap: LabelMap) -> Encoded:
    mask = decode_png(job.mask_png)
    label_json = json.dumps(labels_results(mask, job.activity, labelmap))
    if job.prediction is None:
        return Encoded(job.frame_id, job.activity, label_json, None)
    pred_mask = read_prediction_mask(job.prediction, mask.shape, labelmap)
    pred_activity = job.prediction.activity
    score = score_frame(job.frame_id, mask, job.activity, pred_mask, pred_activity, labelmap)
    model_json = json.dumps(labels_results(pred_mask, pred_activity, labelmap))
    return Encoded(job.frame_id, job.activity, label_json, score, model_json)


def encode_chunk(jobs: list[EncodeJob], labelmap: LabelMap) -> list[Encoded]:
    return [encode_job(job, labelmap) for job in jobs]


def default_workers() -> int:
    return os.cpu_count() or 1


def encode_ordered(
    jobs: Iterable[EncodeJob], labelmap: LabelMap, workers: int | None = None, chunk: int = CHUNK
) -> Iterator[Encoded]:
    """Encode `jobs` with `workers` processes (default: one per CPU), yielding results in job order.

    `jobs` is consumed lazily in the calling thread, so a generator may do per-frame side work
    (image upload/writes) as it goes. Errors raised in a worker (e.g. a bad predicted mask) are
    re-raised here, for the first failing frame in order.
    """
    workers = default_workers() if workers is None else workers
    it = iter(jobs)
    chunks = iter(lambda: list(islice(it, chunk)), [])
    if workers <= 0:
        for part in chunks:
            yield from encode_chunk(part, labelmap)
        return
    pool = ProcessPoolExecutor(max_workers=workers)
    pending: deque[Future[list[Encoded]]] = deque()
    try:
        for part in chunks:
            pending.append(pool.submit(encode_chunk, part, labelmap))
            while len(pending) > 2 * workers + 1:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
