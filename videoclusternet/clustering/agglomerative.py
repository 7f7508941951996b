"""Average-link agglomerative clustering of track templates, and the merge stream it is built on.

`average_link_merges` proposes merges strongest first and says of each whether co-occurrence
allows it; the average-link baseline stops that stream at a cosine threshold, the calibrated link
(`calibrated_link.py`) where clusters stop beating the title's pairs of different people, the
co-occurrence cut (`cooccurrence_cut.py`) where the refusals start to outweigh the merges.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import takewhile

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import DisjointSet

from videoclusternet.clustering.faces import TrackFaces
from videoclusternet.clustering.union import group_labels


@dataclass
class CutReport:
    """Where a clusterer stopped the merge stream, and what evidence set that point."""

    similarity: float  # of the last merge kept; NaN when nothing merged
    merges: int
    refusals: int  # refused proposals before the cut
    stopped_by: str  # the evidence, in words, for the run's metadata
    threshold: float = float("nan")  # the similarity a merge had to reach; NaN: none (the refusal balance)
    fallback: bool = False  # True: the title gave no evidence, so a fixed threshold stopped it


class StreamCut:
    """A clusterer that cuts average linkage's merge stream (with the clothes' say) where `stop` decides, and
    says where and why (`cut`); `fit` gives the labels alone."""

    name: str

    def describe(self) -> str:
        return self.name

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each track row of `faces`."""
        return self.cut(faces, cannot_link, groups)[0]

    def cut(
        self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, CutReport]:
        """The labels, and where and why the merging stopped; `groups`: rows that must stay together."""
        templates, proposals = clothed_merges(faces, cannot_link, groups)
        kept, report = self.stop(proposals, templates, faces.apart(cannot_link))
        return labels_after(faces.n_tracks, kept, groups), report

    def stop(
        self, proposals: Iterator[MergeProposal], templates: np.ndarray, apart: np.ndarray
    ) -> tuple[list[MergeProposal], CutReport]:
        """The proposals kept, strongest first, and why the rest were not; `apart` [P, 2]: track rows of pairs of
        different people (`TrackFaces.apart`)."""
        raise NotImplementedError


def clothed_merges(
    faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None
) -> tuple[np.ndarray, Iterator[MergeProposal]]:
    """The tracks' templates, and average linkage's merge stream over them with the clothes' say."""
    templates = faces.templates()
    return templates, average_link_merges(templates, cannot_link, groups, faces.clothes(templates, cannot_link))


def down_to(proposals: Iterable[MergeProposal], threshold: float) -> list[MergeProposal]:
    """The proposals of a merge stream (strongest first) down to similarity `threshold`."""
    return list(takewhile(lambda p: p.similarity >= threshold, proposals))


def cut_report(kept: list[MergeProposal], stopped_by: str, threshold: float, fallback: bool) -> CutReport:
    """The report of a cut that kept the proposals `kept` of a merge stream."""
    merged = [p for p in kept if p.allowed]
    return CutReport(
        similarity=merged[-1].similarity if merged else float("nan"),
        merges=len(merged),
        refusals=len(kept) - len(merged),
        stopped_by=stopped_by,
        threshold=threshold,
        fallback=fallback,
    )


@dataclass(frozen=True)
class MergeProposal:
    similarity: float  # average-link similarity of the two clusters
    a: int  # a track row of each cluster
    b: int
    allowed: bool  # False: the clusters hold two tracks seen in one frame, so they stay apart


def average_link_merges(
    templates: np.ndarray,
    cannot_link: set[tuple[int, int]],
    groups: np.ndarray | None = None,
    evidence: np.ndarray | None = None,
) -> Iterator[MergeProposal]:
    """The most similar pair of current clusters, again and again, until no pair is left.

    An allowed pair is merged before it is yielded (Lance-Williams update of average linkage); a refused
    pair is yielded once and never proposed again. Similarities fall as the stream goes on. `groups` (a
    label 0..G-1 per track row) starts the stream from those clusters instead of single tracks: the tracks
    of a group must stay together. The average link of two groups is the dot product of their mean unit
    templates, so only G x G similarities are held. `evidence` [n, n] (optional) is added to the template
    cosines of every two track rows (the clothes' say, `clothes.py`), averaged over two groups' rows.
    """
    n = len(templates)
    if n == 0:
        return
    groups = np.arange(n) if groups is None else np.asarray(groups, np.int64)
    g = int(groups.max()) + 1
    size = np.bincount(groups, minlength=g).astype(np.float64)
    first = np.full(g, n)
    np.minimum.at(first, groups, np.arange(n))  # a track row of each group, to name it in proposals
    means = np.zeros((g, templates.shape[1]), templates.dtype)
    np.add.at(means, groups, templates)
    means /= size[:, None].astype(templates.dtype)  # singletons: the templates themselves, bit for bit
    sim = (means @ means.T).astype(np.float64)
    if evidence is not None:
        member = sparse.csr_matrix((np.ones(n), (groups, np.arange(n))), shape=(g, n))
        sim += np.asarray(member @ (member @ evidence).T) / np.outer(size, size)  # evidence is symmetric
    np.fill_diagonal(sim, -np.inf)
    blocked = np.zeros((g, g), bool)
    for a, b in cannot_link:
        blocked[groups[a], groups[b]] = blocked[groups[b], groups[a]] = True
    # Each row's best partner, kept up to date, so a step costs O(n) instead of a scan of the matrix.
    partner = np.argmax(sim, axis=1)
    partner_sim = sim[np.arange(g), partner]

    def refresh(rows: np.ndarray) -> None:
        partner[rows] = np.argmax(sim[rows], axis=1)
        partner_sim[rows] = sim[rows, partner[rows]]

    while True:
        a = int(np.argmax(partner_sim))
        b, best = int(partner[a]), float(partner_sim[a])
        if best == -np.inf:
            return
        if blocked[a, b]:
            sim[a, b] = sim[b, a] = -np.inf
            refresh(np.array([a, b]))
            yield MergeProposal(best, int(first[min(a, b)]), int(first[max(a, b)]), False)
            continue
        a, b = min(a, b), max(a, b)  # the lower row lives on
        # A dead cluster's row and column are -inf, so averages with it stay -inf.
        sim[a] = (size[a] * sim[a] + size[b] * sim[b]) / (size[a] + size[b])
        sim[:, a] = sim[a]
        sim[a, a] = -np.inf
        sim[b] = sim[:, b] = -np.inf
        blocked[a] |= blocked[b]
        blocked[:, a] = blocked[a]
        size[a] += size[b]
        refresh(np.unique(np.concatenate([[a, b], np.flatnonzero((partner == a) | (partner == b))])))
        closer = sim[:, a] > partner_sim
        partner[closer], partner_sim[closer] = a, sim[closer, a]
        yield MergeProposal(best, int(first[a]), int(first[b]), True)


def labels_after(n: int, merges: list[MergeProposal], groups: np.ndarray | None = None) -> np.ndarray:
    """Cluster label (0..K-1, by first member) of each of n track rows after the allowed `merges`, starting
    from `groups` (default: every row on its own)."""
    sets = DisjointSet(range(n))
    if groups is not None:
        first: dict[int, int] = {}
        for row, group in enumerate(np.asarray(groups).tolist()):
            sets.merge(first.setdefault(group, row), row)
    for m in merges:
        if m.allowed:
            sets.merge(m.a, m.b)
    return group_labels(sets, n)


@dataclass(frozen=True)
class AverageLinkClusterer:
    name = "average_link"
    threshold: float = 0.3  # mean cosine similarity two clusters need to merge

    def describe(self) -> str:
        return f"{self.name}(threshold={self.threshold})"

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None) -> np.ndarray:
        """Cluster label (0..K-1, by first member) for each track row of `faces`.

        `cannot_link` holds pairs of track rows that must stay apart, `groups` rows that must stay together.
        """
        kept = down_to(clothed_merges(faces, cannot_link, groups)[1], self.threshold)
        return labels_after(faces.n_tracks, kept, groups)
