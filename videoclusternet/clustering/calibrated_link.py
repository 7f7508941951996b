"""Average-link clustering stopped by the title's own pairs of different people: no threshold, no count.

Two tracks seen in one frame are two people (`constraints.py`): their face similarities say what "different
people" looks like in this title, for whatever face model made the embeddings (`TrackFaces.seen_together`; the
cannot-link pairs where it is not given). Average linkage merges two clusters while their similarity beats
`NEGATIVES_SHARE` of those pairs' template cosines: the stopping point comes from the title, on the model's
own scale.

Measured on the three evaluation clips (README: "A stopping point from the title"): with SFace it stops at
0.30 on friends, 0.29 on hamilton and 0.14 on tbbt (whose three leads are far apart) and scores what the
fixed cosine 0.3 scores on friends and hamilton, tbbt 0.003 lower; with insightface's w600k_mbf, whose scale
is lower, at 0.20 to 0.22, scoring what 0.3 does there, where `cooccurrence_cut` loses hamilton's 0.969.
Friends' pipeline sample keeps its 0.916 for shares up to 0.625 (0.65 stops above Phoebe's two halves, at
0.316), hamilton every random draw from 0.625 up. A title with fewer than `MIN_PAIRS` such pairs gives too
little to read a share from: it stops at the average-link threshold measured for SFace, and `cut` says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from videoclusternet.clustering.agglomerative import (
    AverageLinkClusterer,
    CutReport,
    MergeProposal,
    StreamCut,
    cut_report,
    down_to,
)

NEGATIVES_SHARE = 0.6  # of the title's pairs of different people that a merge must be more alike than
MIN_PAIRS = 10  # pairs of different people needed to read that share from


@dataclass(frozen=True)
class CalibratedLinkClusterer(StreamCut):
    name = "calibrated_link"
    share: float = NEGATIVES_SHARE
    fallback_threshold: float = AverageLinkClusterer.threshold

    def stop(
        self, proposals: Iterator[MergeProposal], templates: np.ndarray, apart: np.ndarray
    ) -> tuple[list[MergeProposal], CutReport]:
        """Down to the similarity the title's pairs of different people set (`apart`)."""
        fallback = len(apart) < MIN_PAIRS
        if fallback:
            threshold = self.fallback_threshold
            needed = f"only {len(apart)} of the {MIN_PAIRS} pairs of different people needed"
            stopped_by = f"{needed}: the fixed threshold {threshold}"
        else:
            cosines = np.einsum("ij,ij->i", templates[apart[:, 0]], templates[apart[:, 1]]).astype(np.float64)
            threshold = float(np.quantile(cosines, self.share))
            stopped_by = f"more alike than {self.share:.1%} of {len(apart)} pairs of different people"
        kept = down_to(proposals, threshold)
        return kept, cut_report(kept, stopped_by, threshold, fallback)
