"""VideoClusterNet's parameter-free track clustering: no cluster count, no distance threshold.

Every track starts as its own cluster. The distance between two clusters is the symmetric loss
between their faces (teacher of one against student of the other, averaged both ways; the cosine
counterpart without an adapted model), and each cluster's own threshold is the mean loss between
its own faces. Two clusters merge when their distance is below either's threshold; merges close
transitively, strongest first, and a merge that would join two tracks seen in the same frame is
refused. Thresholds and distances are recomputed and the rounds repeat until nothing merges.

Scaling: a cluster is summarised by the sums of its faces' loss vectors (see `faces.FaceLoss`), so a
distance costs O(dim) whatever the cluster sizes, and only candidate pairs from a nearest-neighbour
search over cluster representatives (faiss, inner product) are compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from videoclusternet.clustering.constraints import fit_in_groups
from videoclusternet.clustering.faces import TrackFaces
from videoclusternet.clustering.union import ConstrainedUnion

NEIGHBOURS = 32  # candidate partners per cluster and round: search breadth, not a decision threshold


@dataclass(frozen=True)
class AdaptiveMergeClusterer:
    name = "adaptive_merge"
    neighbours: int = NEIGHBOURS

    def describe(self) -> str:
        return self.name

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each track row of `faces`; `groups` must stay together."""
        return fit_in_groups(self._fit, faces, cannot_link, groups)

    def _fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]]) -> np.ndarray:
        n = faces.n_tracks
        loss = faces.loss
        cluster_of = np.arange(n)
        union = ConstrainedUnion(n, cannot_link)
        while True:
            stats = _ClusterStats.of(loss.left, loss.right, loss.offset, cluster_of[faces.track_row], n)
            pairs = stats.candidate_pairs(self.neighbours)
            if len(pairs) == 0:
                break
            distance = stats.distance(pairs[:, 0], pairs[:, 1])
            threshold = stats.threshold()
            merge = distance < np.maximum(threshold[pairs[:, 0]], threshold[pairs[:, 1]])
            merged = sum(
                union.join(int(a), int(b)) for a, b in pairs[merge][np.argsort(distance[merge], kind="stable")]
            )
            if not merged:
                break
            cluster_of = union.roots()
        return union.labels()


@dataclass
class _ClusterStats:
    """Per cluster id (clusters are indexed by a root track; non-roots have no faces): face count,
    the sums of its faces' left and right vectors, and the sum of each face's loss with itself."""

    count: np.ndarray
    left: np.ndarray
    right: np.ndarray
    self_dot: np.ndarray
    offset: float

    @classmethod
    def of(cls, left: np.ndarray, right: np.ndarray, offset: float, cluster: np.ndarray, n: int) -> _ClusterStats:
        count = np.bincount(cluster, minlength=n).astype(np.float64)
        members = sparse.csr_matrix(
            (np.ones(len(cluster)), (cluster, np.arange(len(cluster)))), shape=(n, len(cluster))
        )
        sum_left = members @ left
        sum_right = sum_left if right is left else members @ right
        self_dot = np.bincount(cluster, weights=np.einsum("ij,ij->i", left, right), minlength=n)
        return cls(count, sum_left, sum_right, self_dot, offset)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Symmetric mean loss between the faces of clusters a and b."""
        cross = np.einsum("ij,ij->i", self.left[a], self.right[b]) + np.einsum("ij,ij->i", self.left[b], self.right[a])
        return self.offset - cross / (2 * self.count[a] * self.count[b])

    def threshold(self) -> np.ndarray:
        """Mean loss between two different faces of each cluster; -inf for a single face (it never sets the bar)."""
        pairs = self.count * (self.count - 1)
        inner = np.einsum("ij,ij->i", self.left, self.right) - self.self_dot
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pairs > 0, self.offset - inner / np.maximum(pairs, 1), -np.inf)

    def candidate_pairs(self, k: int) -> np.ndarray:
        """Pairs (a, b), a < b, of live clusters where b is among a's `k` lowest-loss partners or the reverse."""
        import faiss

        live = np.flatnonzero(self.count > 0)
        if len(live) < 2:
            return np.zeros((0, 2), np.int64)
        queries = (self.left[live] / self.count[live, None]).astype(np.float32)
        base = (self.right[live] / self.count[live, None]).astype(np.float32)
        index = faiss.IndexFlatIP(base.shape[1])
        index.add(np.ascontiguousarray(base))
        _, nearest = index.search(np.ascontiguousarray(queries), min(k + 1, len(live)))
        a = np.repeat(live, nearest.shape[1])
        b = live[nearest.ravel()]
        keep = (nearest.ravel() >= 0) & (a != b)
        pairs = np.sort(np.stack([a[keep], b[keep]], axis=1), axis=1)
        return np.unique(pairs, axis=0)
