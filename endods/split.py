"""Train/test assignment (docs/formats.md §1): pure functions of frame keys, config and seed.

- `paper`: per-activity random 4:1 split at frame level, exactly the count rule of docs/formats.md §1
  (largest-remainder allocation of round(N*f) test slots; per-activity shuffle seeded by
  seed*1000 + activity index). Frames of one sequence land on both sides, as in the paper.
- `group`: whole groups (sequences / videos) move to test in a seeded order until the test set
  reaches round(N*f) frames, always leaving at least one group in train: no leakage.
- `test-only`: every frame in test (MTLEndovis-Gen).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from endods.errors import OptionError

SplitMode = Literal["paper", "group", "test-only"]
SPLIT_MODES: tuple[str, ...] = ("paper", "group", "test-only")


@dataclass(frozen=True)
class SplitConfig:
    mode: SplitMode = "paper"
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in SPLIT_MODES:
            raise OptionError(f"unknown split mode {self.mode!r}; choose one of {', '.join(SPLIT_MODES)}")
        if not 0.0 < self.test_fraction < 1.0 and self.mode != "test-only":
            raise OptionError(f"--test-fraction must be strictly between 0 and 1, got {self.test_fraction}")

    def to_dict(self) -> dict:
        return {"split": self.mode, "test_fraction": self.test_fraction, "seed": self.seed}


@dataclass(frozen=True)
class SplitKey:
    frame_id: str
    activity: int
    group: str


def exact_fraction(f: float) -> Fraction:
    """The decimal the user wrote (0.2 -> 1/5), so ties and halves of the count rules are exact.

    In binary floating point 7 * 0.2 - 1 = 0.40000000000000013 > 2 * 0.2 = 0.4, which would hand a
    tied slot to the higher activity index, against the rule.
    """
    return Fraction(repr(float(f)))


def paper_test_counts(per_activity: dict[int, int], test_fraction: float) -> dict[int, int]:
    """Largest-remainder allocation of round(N*f) test slots over activities (ties: lower index)."""
    f = exact_fraction(test_fraction)
    target = round(sum(per_activity.values()) * f)  # half-to-even: the count rule depends on it
    counts = {a: math.floor(n * f) for a, n in per_activity.items()}
    remaining = target - sum(counts.values())
    by_remainder = sorted(per_activity, key=lambda a: (-(per_activity[a] * f - counts[a]), a))
    for a in by_remainder[: max(remaining, 0)]:
        counts[a] += 1
    return counts


def assign_splits(keys: list[SplitKey], config: SplitConfig) -> dict[str, str]:
    """Map every frame_id to "train" or "test"."""
    if config.mode == "test-only":
        return {k.frame_id: "test" for k in keys}
    if config.mode == "paper":
        return _paper_split(keys, config)
    return _group_split(keys, config)


def _paper_split(keys: list[SplitKey], config: SplitConfig) -> dict[str, str]:
    by_activity: dict[int, list[str]] = defaultdict(list)
    for k in keys:
        by_activity[k.activity].append(k.frame_id)
    counts = paper_test_counts({a: len(v) for a, v in by_activity.items()}, config.test_fraction)
    result: dict[str, str] = {}
    for activity, frame_ids in by_activity.items():
        ordered = sorted(frame_ids)
        random.Random(config.seed * 1000 + activity).shuffle(ordered)
        k = counts[activity]
        result.update({f: "test" for f in ordered[:k]})
        result.update({f: "train" for f in ordered[k:]})
    return result


def _group_split(keys: list[SplitKey], config: SplitConfig) -> dict[str, str]:
    sizes: dict[str, int] = defaultdict(int)
    for k in keys:
        sizes[k.group] += 1
    groups = sorted(sizes)
    random.Random(config.seed).shuffle(groups)
    target = round(len(keys) * exact_fraction(config.test_fraction))  # half-to-even, as above
    test_groups: set[str] = set()
    test_frames = 0
    for g in groups:
        if test_frames >= target or len(test_groups) >= len(groups) - 1:
            break
        test_groups.add(g)
        test_frames += sizes[g]
    return {k.frame_id: ("test" if k.group in test_groups else "train") for k in keys}
