"""Build pipelines for MTLEndovis and MTLEndovis-Gen: read sources → fuse → decode in a pool → write.

Readers and fusion run first (cheap: file listings and small text files); pixel work runs in
`workers` threads and comes back in submission order (natural frame_id order), while the writer
streams finished records to their shards in a background thread. The writer orders records by
frame_id, so 1 or N workers give byte-identical output.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from endods.errors import StrictError
from endods.frame_encoding import FrameDrop, FrameJob, encode_frame
from endods.fuse import choose_activity
from endods.sources.base import DAMAGE_REASONS, SourceFrame
from endods.sources.summary import SourcesSummary
from endods.split import SplitConfig, SplitKey
from endods.writer import BuildSession, EncodedFrame
from schemas.hashing import sha256_file
from schemas.labelmaps import MTLENDOVIS, MTLENDOVIS_GEN, LabelMap
from schemas.manifest import Manifest
from schemas.progress import ProgressFn
from schemas.provenance import git_sha
from schemas.records import natural_key

SourcesFn = Callable[[SourcesSummary], None]


@dataclass
class BuildOptions:
    split: SplitConfig = field(default_factory=SplitConfig)
    workers: int = 1
    overwrite: bool = False
    strict: bool = False


def run_pool(jobs: Iterable[Any], fn: Callable[[Any], Any], workers: int) -> Iterator[Any]:
    """Map `fn` over `jobs` in order with `workers` threads (in-line for one).

    Threads, not processes: the per-frame work (PNG decode, histograms, CRC and sha256 over
    megabytes) runs in C code that releases the GIL, and threads skip pickling every frame's
    megabytes back through a pipe.
    """
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        window: deque = deque()
        for job in jobs:  # a bounded window keeps memory flat while preserving order
            window.append(pool.submit(fn, job))
            if len(window) >= 4 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _relative(path: Path, roots: dict[str, Path]) -> str:
    resolved = Path(path).resolve()
    for name, root in roots.items():
        if resolved.is_relative_to(root):
            return f"{name}/{resolved.relative_to(root).as_posix()}"
    return str(path)


def _drop(session: BuildSession, frame_id: str, reason: str, path: Path, roots: dict[str, Path], strict: bool) -> None:
    rel = _relative(path, roots)
    if strict and reason in DAMAGE_REASONS:
        raise StrictError(f"frame {frame_id}: {reason} ({rel}); remove --strict to skip such frames")
    session.drop(frame_id, reason, rel)


def build_frames(
    frames: Iterable[SourceFrame],
    out: Path,
    dataset: str,
    labelmap: LabelMap,
    roots: dict[str, Path],
    options: BuildOptions,
    on_progress: ProgressFn | None = None,
    source_options: dict[str, Any] | None = None,
) -> Manifest:
    """Shared back half of the EndoVis builders: decode, encode and write one dataset atomically.

    `source_options` (which id table, which folders were read) go into the manifest's options.
    """
    roots = {name: Path(p).resolve() for name, p in roots.items() if p is not None}
    frames = list(frames)
    with BuildSession(out, overwrite=options.overwrite, inputs=roots.values()) as session:
        jobs = _frame_jobs(session, frames, labelmap, roots, options.strict)
        # Natural frame_id order lets the session stream records to their shards while decoding.
        jobs.sort(key=lambda job: natural_key(job.frame.frame_id))
        keys = [SplitKey(j.frame.frame_id, j.activity, j.frame.group) for j in jobs]
        session.expect(keys, options.split, labelmap)
        _encode_into(session, jobs, roots, options, on_progress)
        build_options = {
            "strict": options.strict,
            "crop": None,
            "activities": list(labelmap.activities),
            **(source_options or {}),
        }
        return session.finish(
            dataset=dataset,
            labelmap=labelmap,
            split=options.split,
            options=build_options,
            sources=roots,
            provenance=provenance(roots),
        )


def _frame_jobs(
    session: BuildSession, frames: list[SourceFrame], labelmap: LabelMap, roots: dict[str, Path], strict: bool
) -> list[FrameJob]:
    """One encoding job per usable frame; the others are recorded as dropped. Label files are hashed."""
    jobs: list[FrameJob] = []
    label_hashes: dict[str, str] = {}
    for frame in frames:
        if frame.label_path is not None:
            label_hashes[str(frame.label_path)] = sha256_file(frame.label_path)
        if frame.drop is not None:
            _drop(session, frame.frame_id, frame.drop[0], frame.drop[1], roots, strict)
            continue
        activity = choose_activity(frame.states)
        if activity is None:  # readers normally drop these already
            _drop(session, frame.frame_id, "no_activity", frame.label_path or Path("?"), roots, strict)
            continue
        jobs.append(FrameJob(frame, labelmap.activity_index(activity), labelmap.num_classes))
    session.add_file_hashes(label_hashes)
    return jobs


def _encode_into(
    session: BuildSession,
    jobs: list[FrameJob],
    roots: dict[str, Path],
    options: BuildOptions,
    on_progress: ProgressFn | None,
) -> None:
    """Decode and encode every job in the pool, adding records (or drops) to the session in job order."""
    total = len(jobs)
    if on_progress:
        on_progress(0, total)
    for done, result in enumerate(run_pool(jobs, encode_frame, options.workers), start=1):
        if isinstance(result, FrameDrop):
            _drop(session, result.frame_id, result.reason, result.path, roots, options.strict)
        else:
            assert isinstance(result, EncodedFrame)
            session.add(result)
        if on_progress:
            on_progress(done, total)


def provenance(roots: dict[str, Path]) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "command": " ".join(sys.argv),
        "source_roots": {k: str(v) for k, v in roots.items()},
        "git_sha": git_sha(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "pid": os.getpid(),
    }


def build_mtlendovis(
    src: Path | None,
    out: Path,
    options: BuildOptions,
    endovis18: Path | None = None,
    isinet18: Path | None = None,
    vqla18: Path | None = None,
    on_progress: ProgressFn | None = None,
    on_sources: SourcesFn | None = None,
) -> Manifest:
    """`on_sources` receives the sources summary (what `endods sources` shows) before any pixel work."""
    from endods.sources.endovis18 import discover_endovis18, read_endovis18
    from endods.sources.isinet import describe_table
    from endods.sources.summary import endovis18_entries

    paths = discover_endovis18(src, endovis18=endovis18, isinet18=isinet18, vqla18=vqla18)
    frames = read_endovis18(paths)
    _report_sources(on_sources, "mtlendovis", src, endovis18_entries(paths), frames)
    roots = {"endovis18": paths.endovis18, "isinet18": paths.isinet18, "vqla18": paths.vqla18}
    # docs/formats.md §9.4/§9.5: which table mapped the mask ids, which EndoVis18 folders were read
    base = paths.endovis18
    source_options = {
        "isinet_id_table": describe_table(paths.id_table, paths.isinet18),
        "endovis18_folders_read": [p.relative_to(base).as_posix() or "." for p in paths.frame_dirs] if base else [],
        "endovis18_folders_not_read": [p.relative_to(base).as_posix() for p in paths.ignored_dirs] if base else [],
    }
    return build_frames(frames, out, "mtlendovis", MTLENDOVIS, roots, options, on_progress, source_options)


def _report_sources(
    on_sources: SourcesFn | None, dataset: str, src: Path | None, entries: list, frames: list[SourceFrame]
) -> None:
    """Hand the sources summary (as `endods sources` prints it) to the caller before any pixel work."""
    if on_sources is None:
        return
    from endods.sources.summary import frame_counts

    summary = SourcesSummary(dataset, src, entries)
    frame_counts(summary, frames)
    on_sources(summary)


def build_mtlendovis_gen(
    src: Path | None,
    out: Path,
    options: BuildOptions,
    endovis17: Path | None = None,
    vqla17: Path | None = None,
    on_progress: ProgressFn | None = None,
    on_sources: SourcesFn | None = None,
) -> Manifest:
    """`on_sources` receives the sources summary (what `endods sources` shows) before any pixel work."""
    from endods.sources.endovis17 import discover_endovis17, read_endovis17
    from endods.sources.summary import endovis17_entries

    paths = discover_endovis17(src, endovis17=endovis17, vqla17=vqla17)
    frames = read_endovis17(paths)
    _report_sources(on_sources, "mtlendovis-gen", src, endovis17_entries(paths, frames), frames)
    roots = {"endovis17": paths.endovis17, "vqla17": paths.vqla17}
    # MTLEndovis-Gen is a held-out test set by definition (paper Table I: 0 train frames).
    test_only = replace(options, split=SplitConfig("test-only", options.split.test_fraction, options.split.seed))
    return build_frames(frames, out, "mtlendovis-gen", MTLENDOVIS_GEN, roots, test_only, on_progress)
