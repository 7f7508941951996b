"""Grouping face tracks into identities; every clusterer honours cannot-link pairs.

`adaptive_merge` is VideoClusterNet's parameter-free clustering; `calibrated_link` (the default) and
`cooccurrence_cut` are average-link stopped by the title's own pairs of different people, by their similarity
and by the refusals they cause; the others are baselines for comparison: average-link with a cosine threshold,
FINCH's first partition, and HDBSCAN.
"""

from typing import Protocol

import numpy as np

from videoclusternet.clustering.adaptive_merge import AdaptiveMergeClusterer
from videoclusternet.clustering.agglomerative import AverageLinkClusterer, CutReport, StreamCut
from videoclusternet.clustering.calibrated_link import CalibratedLinkClusterer
from videoclusternet.clustering.clothes import track_spans
from videoclusternet.clustering.constraints import cooccurring_pairs
from videoclusternet.clustering.cooccurrence_cut import CooccurrenceCutClusterer
from videoclusternet.clustering.density import HdbscanClusterer
from videoclusternet.clustering.faces import FaceLoss, TrackFaces
from videoclusternet.clustering.first_neighbour import FirstNeighbourClusterer


class Clusterer(Protocol):
    name: str

    def describe(self) -> str: ...

    def fit(self, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None) -> np.ndarray:
        """Cluster label per track row; rows of `cannot_link` pairs stay apart, rows of one `groups` label
        together."""
        ...


CLUSTERERS = (
    AdaptiveMergeClusterer.name,
    CalibratedLinkClusterer.name,
    CooccurrenceCutClusterer.name,
    AverageLinkClusterer.name,
    FirstNeighbourClusterer.name,
    HdbscanClusterer.name,
)
# "auto": average-link stopped by the title's pairs of different people, on any face model's scale, the best
# on the evaluation clips (README: clustering table); with a threshold given, average-link at that threshold.
# adaptive_merge under-merges on the generic model's embeddings, where a track's own faces agree far more
# than two tracks of one person.
AUTO = "auto"
DEFAULT_CLUSTERER = AUTO


def make_clusterer(name: str, threshold: float | None = None) -> Clusterer:
    """A clusterer by name; `threshold` is used only by the average-link baseline (None: its default), and
    makes `auto` that baseline."""
    if name == AUTO:
        name = CalibratedLinkClusterer.name if threshold is None else AverageLinkClusterer.name
    if name == AverageLinkClusterer.name:
        return AverageLinkClusterer() if threshold is None else AverageLinkClusterer(threshold=threshold)
    factories = {
        c.name: c
        for c in (
            AdaptiveMergeClusterer,
            CalibratedLinkClusterer,
            CooccurrenceCutClusterer,
            FirstNeighbourClusterer,
            HdbscanClusterer,
        )
    }
    if name not in factories:
        raise ValueError(f"unknown clusterer {name!r}; choose one of {', '.join((AUTO, *CLUSTERERS))}")
    return factories[name]()


def cluster_and_report(
    clusterer: Clusterer, faces: TrackFaces, cannot_link: set[tuple[int, int]], groups: np.ndarray | None = None
) -> tuple[np.ndarray, CutReport | None]:
    """`clusterer.fit`'s labels, and where and why the merging stopped for the clusterers that cut a merge
    stream (None for the others)."""
    if isinstance(clusterer, StreamCut):
        return clusterer.cut(faces, cannot_link, groups)
    return clusterer.fit(faces, cannot_link, groups=groups), None


def clusterer_settings(description: str) -> tuple[str, float | None]:
    """The name and threshold to `make_clusterer` again the clusterer that `describe()` gave `description`
    (`average_link(threshold=0.3)`, `cooccurrence_cut`); settings other than a threshold are the defaults."""
    name, _, settings = description.partition("(")
    values = dict(item.split("=", 1) for item in settings.rstrip(")").split(", ") if "=" in item)
    return name, float(values["threshold"]) if "threshold" in values else None


__all__ = [
    "AUTO",
    "CLUSTERERS",
    "DEFAULT_CLUSTERER",
    "AdaptiveMergeClusterer",
    "AverageLinkClusterer",
    "CalibratedLinkClusterer",
    "Clusterer",
    "CooccurrenceCutClusterer",
    "CutReport",
    "FaceLoss",
    "FirstNeighbourClusterer",
    "HdbscanClusterer",
    "StreamCut",
    "TrackFaces",
    "cluster_and_report",
    "clusterer_settings",
    "cooccurring_pairs",
    "make_clusterer",
    "track_spans",
]
