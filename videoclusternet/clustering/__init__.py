"""Grouping face tracks into identities; every clusterer honours cannot-link pairs.

`adaptive_merge` is VideoClusterNet's parameter-free clustering and `cooccurrence_cut` a threshold-free
average-link stopped by the title's own co-occurrences; the others are baselines for comparison:
average-link with a cosine threshold, FINCH's first partition, and HDBSCAN.
"""

from typing import Protocol

import numpy as np

from videoclusternet.clustering.adaptive_merge import AdaptiveMergeClusterer
from videoclusternet.clustering.agglomerative import AverageLinkClusterer
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
    CooccurrenceCutClusterer.name,
    AverageLinkClusterer.name,
    FirstNeighbourClusterer.name,
    HdbscanClusterer.name,
)
# "auto": average-link, the best on the evaluation clips so far (README: clustering table), where its
# threshold means something, else the threshold-free co-occurrence cut. adaptive_merge under-merges on
# the generic model's embeddings, where a track's own faces agree far more than two tracks of one person.
AUTO = "auto"
DEFAULT_CLUSTERER = AUTO


def make_clusterer(name: str, threshold: float | None = None, embedder: str = "sface") -> Clusterer:
    """A clusterer by name; `threshold` is used only by the average-link baseline (None: its default).

    `auto` picks average-link for embeddings of SFace (or of a model adapted from it), on whose cosine
    scale its threshold was chosen, and `cooccurrence_cut` for any other `embedder` family's.
    """
    if name == AUTO:
        name = AverageLinkClusterer.name if embedder == "sface" else CooccurrenceCutClusterer.name
    if name == AverageLinkClusterer.name:
        return AverageLinkClusterer() if threshold is None else AverageLinkClusterer(threshold=threshold)
    factories = {
        c.name: c for c in (AdaptiveMergeClusterer, CooccurrenceCutClusterer, FirstNeighbourClusterer, HdbscanClusterer)
    }
    if name not in factories:
        raise ValueError(f"unknown clusterer {name!r}; choose one of {', '.join((AUTO, *CLUSTERERS))}")
    return factories[name]()


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
    "Clusterer",
    "CooccurrenceCutClusterer",
    "FaceLoss",
    "FirstNeighbourClusterer",
    "HdbscanClusterer",
    "TrackFaces",
    "clusterer_settings",
    "cooccurring_pairs",
    "make_clusterer",
    "track_spans",
]
