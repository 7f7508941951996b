"""Constraints: two tracks on screen in the same frame are two people (cannot-links), unless their boxes sit on
one head; tracks known to be one person stay together (must-link groups)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from videoclusternet.clustering.faces import TrackFaces

# Face widths between two faces' centres below which "on screen together" is two boxes on one head (a second
# detection, or the tracker switching between two boxes), not two people: a face box (brows to chin) is about
# two thirds of a head's width, so two heads side by side keep their faces at least about 1.5 widths apart. On
# the evaluation clips, pairs of tracks of two labelled people lie 1.18 (hamilton, once), 2.27 (friends) and
# 2.65 (tbbt) widths apart at the least; 11 of friends' 14 pairs of one person's tracks "seen together" closer.
ONE_HEAD = 1.5


def cooccurring_pairs(
    frame_idx: np.ndarray, track_of: np.ndarray, boxes: np.ndarray | None = None
) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of track ids that share at least one frame. With `boxes` (x1, y1, x2, y2 per face),
    only pairs whose faces lie `ONE_HEAD` face widths apart or more (the median over the frames they share)."""
    distances: dict[tuple[int, int], list[float]] = {}
    order = np.argsort(frame_idx, kind="stable")
    bounds = np.flatnonzero(np.diff(frame_idx[order])) + 1
    for faces in np.split(order, bounds):
        faces = faces[track_of[faces] >= 0]
        faces = faces[np.argsort(track_of[faces], kind="stable")]
        for i in range(len(faces)):
            for j in range(i + 1, len(faces)):
                a, b = int(track_of[faces[i]]), int(track_of[faces[j]])
                if a != b:
                    apart = np.inf if boxes is None else _widths_apart(boxes[faces[i]], boxes[faces[j]])
                    distances.setdefault((a, b), []).append(apart)
    return {pair for pair, apart in distances.items() if np.median(apart) >= ONE_HEAD}


def _widths_apart(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two boxes' centres, in their mean width."""
    centre = (a[:2] + a[2:] - b[:2] - b[2:]) / 2
    return float(np.hypot(*centre) / max((a[2] - a[0] + b[2] - b[0]) / 2, 1e-9))


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


def fit_in_groups(
    fit: Callable[[TrackFaces, set[tuple[int, int]]], np.ndarray],
    faces: TrackFaces,
    cannot_link: set[tuple[int, int]],
    groups: np.ndarray | None,
) -> np.ndarray:
    """`fit` with must-link `groups` (a label 0..G-1 per track row) for a clusterer that has none of its own:
    each group's faces pooled into one track, clustered, and the labels given back to the rows (0..K-1, by
    first row). Two groups with tracks seen in one frame stay apart."""
    if groups is None:
        return fit(faces, cannot_link)
    groups = np.asarray(groups, np.int64)
    pooled = TrackFaces(faces.embeddings, groups[faces.track_row], int(groups.max()) + 1, faces.loss)
    apart = {(min(ga, gb), max(ga, gb)) for a, b in cannot_link if (ga := int(groups[a])) != (gb := int(groups[b]))}
    labels = fit(pooled, apart)[groups]
    _, first = np.unique(labels, return_index=True)
    renumber = np.empty(labels.max() + 1, np.int64)
    renumber[labels[np.sort(first)]] = np.arange(len(first))
    return renumber[labels]
