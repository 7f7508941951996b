"""Positive pairs without labels: faces of one track, and coarse track-to-track matches.

Each track's embeddings are fitted with a diagonal Gaussian, shrunk towards the title's pooled
within-track variance because tracks are short. Track u is linked to track t when u's faces are, in
the median, at least as likely under t as t's own least typical quarter of faces. Tracks seen in the
same frame are never linked. There are no negatives.

Why u's faces and not u's mean: a mean of unit vectors lies inside the sphere, nearer every track's
centre than any real face, so it passes the test far too easily. On TV footage (friends) the
mean-based test linked 1638 track pairs of which 22% were the same person; the faces-based test
links 12, of which 11 are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videoclusternet.embedding import l2_normalise


@dataclass
class TrackLinks:
    pairs: list[tuple[int, int]]  # (u, t) row indices into the tracks given, u < t
    candidates: int  # pairs that passed the likelihood test before the co-occurrence check
    rejected_by_cooccurrence: int


def _log_likelihood(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * (((x - mean) ** 2) / var + np.log(var)).sum(axis=-1)


def link_tracks_by_likelihood(
    embeddings: np.ndarray,
    face_track: np.ndarray,
    tracks: np.ndarray,
    cannot_link: set[tuple[int, int]],
    shrinkage: float = 0.5,
    quantile: float = 0.25,
) -> TrackLinks:
    """Mine track links from face embeddings (any scale: they are L2-normalised here).

    `cannot_link` holds (a, b) index pairs into `tracks` that co-occur.
    """
    unit = l2_normalise(embeddings.astype(np.float64))
    members = [unit[face_track == t] for t in tracks]
    pooled = np.concatenate([m - m.mean(axis=0) for m in members]) if members else unit
    pooled_var = pooled.var(axis=0) + 1e-6
    means = np.stack([m.mean(axis=0) for m in members]) if members else np.zeros((0, unit.shape[1]))
    variances = []
    floors = []
    for m, mu in zip(members, means):
        own = m.var(axis=0) if len(m) > 1 else pooled_var
        var = (1 - shrinkage) * own + shrinkage * pooled_var + 1e-6
        variances.append(var)
        floors.append(np.quantile(_log_likelihood(m, mu, var), quantile))
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    candidates = rejected = 0
    n = len(tracks)
    for t in range(n):
        scores = np.array([np.median(_log_likelihood(m, means[t], variances[t])) for m in members])
        for u in np.flatnonzero(scores >= floors[t]):
            if u == t:
                continue
            a, b = (int(min(u, t)), int(max(u, t)))
            if (a, b) in seen:
                continue
            seen.add((a, b))
            candidates += 1
            if (a, b) in cannot_link:
                rejected += 1
                continue
            pairs.append((a, b))
    return TrackLinks(pairs, candidates, rejected)
