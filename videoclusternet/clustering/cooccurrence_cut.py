"""Average-link clustering cut where the title's own co-occurrences say to stop: no threshold, no count.

Average linkage proposes merges, most similar clusters first. Some proposals would put two tracks
seen in the same frame (two people) into one cluster and are refused. While the proposals join
tracks of one person, refusals are rare; once the similarity falls to the level of different
people, most proposals are refused. The clustering is cut where the running count of allowed
minus refused proposals peaks: every later stretch of proposals holds at least as many refusals.

Co-occurrences are the only evidence of where "different people" begins, and the title supplies
them itself, for whatever face model made the embeddings. A title with no refusal after the peak
(nobody is ever on screen together) gives no such evidence: it falls back to the average-link
threshold, and `cut` reports it. Where people rarely share a frame, proposals between two of them are
mostly allowed and the cut comes late: it suits titles where people are regularly on screen together.
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


@dataclass(frozen=True)
class CooccurrenceCutClusterer(StreamCut):
    name = "cooccurrence_cut"
    fallback_threshold: float = AverageLinkClusterer.threshold

    def stop(
        self, proposals: Iterator[MergeProposal], templates: np.ndarray, apart: np.ndarray
    ) -> tuple[list[MergeProposal], CutReport]:
        proposals = list(proposals)
        balance = np.cumsum([1 if p.allowed else -1 for p in proposals])
        peak = int(np.argmax(balance)) + 1 if len(proposals) else 0
        if all(p.allowed for p in proposals[peak:]):
            kept = down_to(proposals, self.fallback_threshold)
            stopped_by = f"no refusal after the peak: the fixed threshold {self.fallback_threshold}"
            return kept, cut_report(kept, stopped_by, self.fallback_threshold, fallback=True)
        kept = proposals[:peak]
        return kept, cut_report(kept, "refusals outweigh merges after this point", float("nan"), fallback=False)
