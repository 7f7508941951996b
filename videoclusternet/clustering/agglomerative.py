"""Average-link agglomerative clustering of track templates with a cosine threshold.

A baseline, named for what it is: it needs a similarity threshold. Merges that would put two
co-occurring tracks in one cluster are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videoclusternet.clustering.faces import TrackFaces


@dataclass(frozen=True)
class AverageLinkClusterer:
    name = "average_link"
    threshold: float = 0.3  # mean cosine similarity two clusters need to merge

    def describe(self) -> str:
        return f"{self.name}(threshold={self.threshold})"

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]]) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each track row of `faces`.

        `cannot_link` holds pairs of track rows that must stay apart.
        """
        templates = faces.templates()
        n = len(templates)
        if n == 0:
            return np.zeros(0, np.int64)
        sim = (templates @ templates.T).astype(np.float64)
        size = np.ones(n)
        blocked = np.zeros((n, n), bool)
        for a, b in cannot_link:
            blocked[a, b] = blocked[b, a] = True
        alive = np.ones(n, bool)
        members = [[i] for i in range(n)]
        np.fill_diagonal(sim, -np.inf)
        while True:
            score = np.where(blocked | ~alive[:, None] | ~alive[None, :], -np.inf, sim)
            a, b = np.unravel_index(int(np.argmax(score)), score.shape)
            if score[a, b] < self.threshold:
                break
            # Lance-Williams update for average linkage; constraints follow the merged cluster.
            sim[a] = (size[a] * sim[a] + size[b] * sim[b]) / (size[a] + size[b])
            sim[:, a] = sim[a]
            sim[a, a] = -np.inf
            blocked[a] |= blocked[b]
            blocked[:, a] = blocked[a]
            size[a] += size[b]
            alive[b] = False
            members[a] += members[b]
        labels = np.empty(n, np.int64)
        for k, root in enumerate(sorted((min(members[i]), i) for i in np.flatnonzero(alive))):
            labels[members[root[1]]] = k
        return labels
