"""HDBSCAN over track templates: a density-based baseline with no distance threshold.

It still has a density setting (the smallest cluster, 2 tracks here) and leaves sparse tracks as
noise; each noise track becomes its own identity. HDBSCAN cannot honour cannot-link pairs while
fitting, so clusters holding co-occurring tracks are split afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videoclusternet.clustering.constraints import fit_in_groups, split_conflicts
from videoclusternet.clustering.faces import TrackFaces


@dataclass(frozen=True)
class HdbscanClusterer:
    name = "hdbscan"
    min_cluster_size: int = 2

    def describe(self) -> str:
        return f"{self.name}(min_cluster_size={self.min_cluster_size})"

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each track row of `faces`; `groups` must stay together."""
        return fit_in_groups(self._fit, faces, cannot_link, groups)

    def _fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]]) -> np.ndarray:
        from sklearn.cluster import HDBSCAN

        templates = faces.templates()
        n = len(templates)
        if n < self.min_cluster_size:
            return np.arange(n, dtype=np.int64)
        # Euclidean distance between unit vectors is monotone in cosine distance.
        labels = HDBSCAN(min_cluster_size=self.min_cluster_size, copy=True).fit_predict(templates.astype(np.float64))
        noise = labels < 0
        labels[noise] = labels.max() + 1 + np.arange(noise.sum())
        return split_conflicts(labels, cannot_link, templates)
