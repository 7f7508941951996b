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


def split_conflicts(labels: np.ndarray, cannot_link: set[tuple[int, int]], templates: np.ndarray) -> np.ndarray:
    """Split clusters that hold a cannot-link pair, for clusterers that cannot honour constraints while fitting.

    Members join, most central first, the first part of their cluster that holds no track they
    co-occur with. Labels come back as 0..K-1 numbered by first member.
    """
    apart: dict[int, set[int]] = {}
    for a, b in cannot_link:
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    part_of = np.zeros(len(labels), np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        centre = templates[members].mean(axis=0)
        parts: list[set[int]] = []
        for m in members[np.argsort(-(templates[members] @ centre), kind="stable")]:
            k = next((i for i, part in enumerate(parts) if not apart.get(int(m), set()) & part), len(parts))
            if k == len(parts):
                parts.append(set())
            parts[k].add(int(m))
            part_of[m] = k
    keys = list(zip(labels.tolist(), part_of.tolist()))
    order = {key: k for k, key in enumerate(dict.fromkeys(keys))}
    return np.array([order[key] for key in keys], np.int64)
