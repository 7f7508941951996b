"""What every clusterer receives: the embedded faces of the tracks to group, and a face-to-face loss.

A loss here is bilinear, `loss(i, j) = offset - left[i] . right[j]`, which covers both distances the
parameter-free clusterer uses:
- cosine: left = right = the face's unit vector, offset 1 (so the loss is 1 - cosine similarity);
- self-distillation: left = the teacher's probabilities, right = the student's log-probabilities,
  offset 0 (so the loss is the cross-entropy from teacher to student).
Being bilinear, the mean loss between two sets of faces only needs the sums of their vectors, so a
cluster of any size is summarised in O(dim) numbers and nothing needs sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videoclusternet.clustering.clothes import clothes_evidence
from videoclusternet.embedding import l2_normalise


@dataclass(frozen=True)
class FaceLoss:
    """Per face, the two sides of a bilinear loss; `name` says which loss it is (for metadata)."""

    name: str
    left: np.ndarray  # [F, K]
    right: np.ndarray  # [F, K]
    offset: float

    @classmethod
    def cosine(cls, vectors: np.ndarray) -> FaceLoss:
        """1 - cosine similarity of face embeddings: the counterpart used without an adapted model."""
        unit = l2_normalise(np.asarray(vectors, np.float64))
        return cls("cosine", unit, unit, 1.0)

    @classmethod
    def distillation(cls, teacher_probs: np.ndarray, student_log_probs: np.ndarray) -> FaceLoss:
        """Cross-entropy from the teacher's output on one face to the student's on another."""
        return cls(
            "self_distillation", np.asarray(teacher_probs, np.float64), np.asarray(student_log_probs, np.float64), 0.0
        )


@dataclass(frozen=True)
class TrackFaces:
    """The embedded faces of the tracks to cluster.

    `embeddings[i]` is a face of track row `track_row[i]` (0..n_tracks-1, in the order of the caller's
    track list); `loss` is the face-to-face loss the parameter-free clusterer merges by. `context` (optional)
    is each track's unit clothes descriptor (`videoclusternet.context`, zeros: none); unlike clothes count only
    between tracks of one `scene` (a title: clothes change between episodes) close in time (`spans`, each
    track's first and last second in its scene; `clustering/clothes.py`). `seen_together` (optional) are the
    pairs of track rows the footage itself shows to be two people: what "different people" looks like in this
    title, for the clothes' scale and the calibrated link's stopping point. None: every cannot-link pair. People's
    answers add cannot-links too, but they are the hardest pairs, picked by the review page, and would raise
    that level for everyone else.
    """

    embeddings: np.ndarray  # [F, D] raw face embeddings
    track_row: np.ndarray  # [F]
    n_tracks: int
    loss: FaceLoss
    context: np.ndarray | None = None  # [n_tracks, C]
    scene: np.ndarray | None = None  # [n_tracks]; None: one scene
    spans: np.ndarray | None = None  # [n_tracks, 2] seconds; None: unknown (unlike clothes count scene-wide)
    seen_together: np.ndarray | None = None  # [P, 2] track rows; None: the cannot-link pairs

    @classmethod
    def from_embeddings(
        cls,
        embeddings: np.ndarray,
        track_row: np.ndarray,
        n_tracks: int,
        loss: FaceLoss | None = None,
        context: np.ndarray | None = None,
        scene: np.ndarray | None = None,
        spans: np.ndarray | None = None,
        seen_together: set[tuple[int, int]] | None = None,
    ) -> TrackFaces:
        embeddings = np.asarray(embeddings, np.float32)
        track_row = np.asarray(track_row, np.int64)
        loss = loss or FaceLoss.cosine(embeddings)
        pairs = None if seen_together is None else row_pairs(seen_together)
        return cls(embeddings, track_row, n_tracks, loss, context, scene, spans, pairs)

    def templates(self) -> np.ndarray:
        """L2-normalised mean of each track's RAW face embeddings.

        Averaging raw vectors weights each face by its norm, which falls with blur, size and pose: on
        TV footage this lifted BCubed F by about 0.06 over averaging unit vectors.
        """
        out = np.zeros((self.n_tracks, self.embeddings.shape[1]), np.float64)
        np.add.at(out, self.track_row, self.embeddings)
        return l2_normalise(out).astype(np.float32)

    def apart(self, cannot_link: set[tuple[int, int]]) -> np.ndarray:
        """[P, 2] track rows of pairs of different people to calibrate on: `seen_together`, else `cannot_link`."""
        return row_pairs(cannot_link) if self.seen_together is None else self.seen_together

    def clothes(self, templates: np.ndarray, cannot_link: set[tuple[int, int]]) -> np.ndarray | None:
        """What the tracks' clothes add to their template cosines [T, T] (`clothes.py`); None without clothes."""
        if self.context is None:
            return None
        scene = np.zeros(self.n_tracks, np.int64) if self.scene is None else np.asarray(self.scene)
        return clothes_evidence(templates, np.asarray(self.context), scene, self.apart(cannot_link), self.spans)


def row_pairs(pairs: set[tuple[int, int]]) -> np.ndarray:
    """A set of row pairs as a sorted [P, 2] array."""
    return np.array(sorted(pairs), np.int64).reshape(-1, 2)
