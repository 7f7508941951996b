"""Cannot-link constraints: two tracks on screen in the same frame are two people."""

from __future__ import annotations

import numpy as np


def cooccurring_pairs(frame_idx: np.ndarray, track_of: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of track ids that share at least one frame."""
    pairs: set[tuple[int, int]] = set()
    order = np.argsort(frame_idx, kind="stable")
    frames, tracks = frame_idx[order], track_of[order]
    bounds = np.flatnonzero(np.diff(frames)) + 1
    for group in np.split(tracks, bounds):
        ids = np.unique(group[group >= 0])
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                pairs.add((int(ids[i]), int(ids[j])))
    return pairs
