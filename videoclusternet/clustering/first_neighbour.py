"""FINCH-style first-neighbour clustering: no threshold, no cluster count.

Each track links to its most similar track it may share a cluster with; the links' connected
components are the clusters (FINCH's first partition, Sarfraz et al., CVPR 2019). Links are joined
strongest first, and a link that would put two co-occurring tracks in one cluster is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videoclusternet.clustering.constraints import fit_in_groups
from videoclusternet.clustering.faces import TrackFaces
from videoclusternet.clustering.union import ConstrainedUnion


@dataclass(frozen=True)
class FirstNeighbourClusterer:
    name = "first_neighbour"

    def describe(self) -> str:
        return self.name

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each track row of `faces`; `groups` must stay together."""
        return fit_in_groups(self._fit, faces, cannot_link, groups)

    def _fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]]) -> np.ndarray:
        templates = faces.templates()
        n = len(templates)
        if n == 0:
            return np.zeros(0, np.int64)
        sim = templates @ templates.T
        np.fill_diagonal(sim, -np.inf)
        for a, b in cannot_link:
            sim[a, b] = sim[b, a] = -np.inf
        nearest = np.argmax(sim, axis=1)
        edges = sorted(
            ((float(sim[i, j]), i, int(j)) for i, j in enumerate(nearest) if np.isfinite(sim[i, j])), reverse=True
        )
        union = ConstrainedUnion(n, cannot_link)
        for _, i, j in edges:
            union.join(i, j)
        return union.labels()
