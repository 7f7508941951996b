"""Grouping face tracks into identities; every clusterer honours cannot-link pairs."""

from videoclusternet.clustering.agglomerative import AverageLinkClusterer
from videoclusternet.clustering.constraints import cooccurring_pairs

CLUSTERERS = {AverageLinkClusterer.name: AverageLinkClusterer}

__all__ = ["CLUSTERERS", "AverageLinkClusterer", "cooccurring_pairs"]
