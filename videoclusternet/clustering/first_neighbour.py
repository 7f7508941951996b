"""FINCH-style first-neighbour clustering: no threshold, no cluster count.

Each track links to its most similar track it may share a cluster with; the links' connected
components are the clusters (FINCH's first partition, Sarfraz et al., CVPR 2019). Links are joined
strongest first, and a link that would put two co-occurring tracks in one cluster is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FirstNeighbourClusterer:
    name = "first_neighbour"

    def describe(self) -> str:
        return self.name

    def fit(self, templates: np.ndarray, cannot_link: set[tuple[int, int]]) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each row of `templates` (L2-normalised)."""
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
        root = list(range(n))
        apart: list[set[int]] = [set() for _ in range(n)]  # per root: the tracks its cluster may not join
        for a, b in cannot_link:
            apart[a].add(b)
            apart[b].add(a)

        def find(i: int) -> int:
            while root[i] != i:
                root[i] = root[root[i]]
                i = root[i]
            return i

        members = [{i} for i in range(n)]
        for _, i, j in edges:
            ri, rj = find(i), find(j)
            if ri == rj or apart[ri] & members[rj]:
                continue
            root[rj] = ri
            members[ri] |= members[rj]
            apart[ri] |= apart[rj]
        roots = [find(i) for i in range(n)]
        order = {r: k for k, r in enumerate(dict.fromkeys(roots))}
        return np.array([order[r] for r in roots], np.int64)
