"""Grouping face tracks into identities; every clusterer honours cannot-link pairs."""

from videoclusternet.clustering.agglomerative import AverageLinkClusterer
from videoclusternet.clustering.constraints import cooccurring_pairs
from videoclusternet.clustering.first_neighbour import FirstNeighbourClusterer

CLUSTERERS = (AverageLinkClusterer.name, FirstNeighbourClusterer.name)


def make_clusterer(name: str, threshold: float) -> AverageLinkClusterer | FirstNeighbourClusterer:
    """A clusterer by name; `threshold` is used only by the ones that need one."""
    if name == AverageLinkClusterer.name:
        return AverageLinkClusterer(threshold=threshold)
    if name == FirstNeighbourClusterer.name:
        return FirstNeighbourClusterer()
    raise ValueError(f"unknown clusterer {name!r}; choose one of {', '.join(CLUSTERERS)}")


__all__ = ["CLUSTERERS", "AverageLinkClusterer", "FirstNeighbourClusterer", "cooccurring_pairs", "make_clusterer"]
