"""Leakage between splits: groups on both sides, and near-duplicate frames found by a perceptual hash.

The paper's split is random per frame, so consecutive frames of one sequence end up in train and
test; a model then partly "tests" on frames it has seen. A difference hash (dHash: sign of horizontal
gradients of a 9x8 gray thumbnail) is insensitive to small noise, compression and rescaling, cheap
to compute, and needs no dependency; Hamming distance between hashes measures visual similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HASH_SIZE = 8  # 8x8 = 64 bits
DEFAULT_MAX_DISTANCE = 6  # bits out of 64; consecutive video frames are typically 0-4 apart


def dhash(rgb: np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """Packed dHash bits (uint8, hash_size**2 / 8 bytes) of an RGB image of any size."""
    import cv2  # here, not at module level: the CLI imports DEFAULT_MAX_DISTANCE at startup

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    small = cv2.resize(gray, (hash_size + 1, hash_size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = small[:, 1:] > small[:, :-1]
    return np.packbits(bits.ravel())


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise bit distances between packed hashes a (N, B) and b (M, B) → (N, M) int."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.int32)
    xor = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return np.bitwise_count(xor).sum(axis=2, dtype=np.int32)


@dataclass(frozen=True)
class NearDuplicate:
    test_frame: str
    train_frame: str
    distance: int

    def to_dict(self) -> dict:
        return {"test_frame": self.test_frame, "train_frame": self.train_frame, "distance": self.distance}


def near_duplicates(
    test_ids: list[str],
    test_hashes: np.ndarray,
    train_ids: list[str],
    train_hashes: np.ndarray,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    chunk: int = 256,
) -> list[NearDuplicate]:
    """For each test frame, its closest train frame when within `max_distance` bits.

    Sorted by distance then frame id; chunked so memory stays O(chunk x train) for large splits.
    Ties for the closest train frame go to the first in train order (deterministic).
    """
    found: list[NearDuplicate] = []
    for start in range(0, len(test_ids), chunk):
        dist = hamming(test_hashes[start : start + chunk], train_hashes)
        if dist.shape[1] == 0:
            break
        best = dist.argmin(axis=1)
        for i, j in enumerate(best):
            d = int(dist[i, j])
            if d <= max_distance:
                found.append(NearDuplicate(test_ids[start + i], train_ids[int(j)], d))
    return sorted(found, key=lambda n: (n.distance, n.test_frame))


def shared_groups(group_counts: dict[str, dict[str, int]]) -> list[str]:
    """Groups (sequences/videos) with frames in more than one split: the leakage unit of docs/architecture.md."""
    return [g for g, per_split in group_counts.items() if sum(1 for n in per_split.values() if n > 0) > 1]
