"""Which questions to ask first, so that each answer fixes as much of a cast as it can.

Two kinds of question:
- "same person?" for two persons that may be one (never a pair answered or told apart): a yes merges them
  (confirm);
- "is this track this person?" for a track that may not belong with the rest of its person: a no moves it
  out (to a person of its own).

A question's worth is how likely the answer that fixes something is, times how much it fixes, times how
surely both sides are faces at all (a detector's score; a statue's track is not worth a person's time).

Likely: from the title's own evidence, on any embedder's scale. Persons seen in one frame are two people, and
so are those an answer told apart, so the similarities of those pairs (the negatives) say what "different
people" looks like, better with every no. A pair more alike than most negatives is likely one person; a track
less alike its person than most negatives are is likely not that person. Similarity is the face's, averaged
with the clothes' where the title's faces show them (`videoclusternet.context`): on friends the clothes tell
apart the people a face model cannot. One wrong track, or two boxes on one face, is enough for two halves of
one person to be seen "together": a pair seen together through n pairs of tracks keeps 1 / (1 + n) of its
likelihood, so two large halves that share a frame once are still asked about, and two people often on screen
together are not.

Fixes: what BCubed gains from the answer. A yes joins a's and b's faces: recall, a * b / (a + b) for a true
person of a + b faces (two small halves of one person matter as much to their faces as two large ones). A no
to "is this track theirs?" parts t faces from the rest of a person of p: precision, t * (p - t) / p.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Question:
    """`track` None: "are persons a and b one?"; else "is track row `track` person a's?" (b is -1)."""

    a: int
    b: int
    track: int | None
    similarity: float  # average link of the two sides
    likelihood: float  # that the answer fixes something: yes for a pair, no for a track
    worth: float  # likelihood x the face pairs it fixes


def suggested_questions(
    templates: np.ndarray,
    person: np.ndarray,
    track_faces: np.ndarray,
    together: dict[tuple[int, int], int],
    answered: set[tuple[int, int]] = frozenset(),
    settled: set[int] = frozenset(),
    limit: int = 50,
    context: np.ndarray | None = None,
    faceness: np.ndarray | None = None,
) -> list[Question]:
    """The `limit` most worthwhile questions, best first. Per track row: `templates` its unit face template
    [T, D]; `person` its person row 0..P-1; `track_faces` its face count; `context` (optional) its unit context
    descriptor [T, C] (zeros: none); `faceness` (optional) how surely it is a face at all, 0..1 (the
    detector's mean score). `together`: person pairs seen in one frame, with how many track pairs; `answered`:
    person pairs already answered (or told apart); `settled`: track rows already confirmed."""
    n = int(person.max()) + 1 if len(person) else 0
    if n == 0:
        return []
    size = np.bincount(person, minlength=n).astype(float)
    faces = np.bincount(person, weights=track_faces, minlength=n)
    sure = np.ones(len(person)) if faceness is None else np.asarray(faceness, float)
    person_sure = np.bincount(person, weights=track_faces * sure, minlength=n) / np.maximum(faces, 1e-9)
    sums = np.zeros((n, templates.shape[1]))
    np.add.at(sums, person, templates)
    similarity = _mean_similarity(sums, size)
    if context is not None:  # clothes, where a face shows them: the average of the two kinds of evidence
        has = np.abs(context).sum(axis=1) > 0
        context_sums = np.zeros((n, context.shape[1]))
        np.add.at(context_sums, person[has], context[has])
        context_size = np.bincount(person[has], minlength=n).astype(float)
        similarity = (similarity + _mean_similarity(context_sums, context_size)) / 2
    # Known different people: seen together, or told apart by an answer (a yes makes one person of a pair).
    known = {(a, b) for a, b in (*together, *answered) if a != b}
    negatives = np.sort([similarity[a, b] for a, b in known]) if known else np.zeros(0)

    def alike(s: float) -> float:
        """The share of known different-person pairs less similar than `s`."""
        return float(np.searchsorted(negatives, s) / len(negatives)) if len(negatives) else float(np.clip(s, 0, 1))

    skip = {(min(a, b), max(a, b)) for a, b in answered}
    questions = []
    for a in range(n):
        for b in range(a + 1, n):
            if (a, b) not in skip:
                likely = alike(similarity[a, b]) / (1 + together.get((a, b), 0))
                # A yes joins a's and b's faces: what BCubed's recall gains, for a true person of a + b faces.
                fixes = faces[a] * faces[b] / (faces[a] + faces[b])
                worth = float(likely * fixes * person_sure[a] * person_sure[b])
                questions.append(Question(a, b, None, float(similarity[a, b]), likely, worth))
    for row in range(len(person)):
        p = int(person[row])
        if size[p] < 2 or row in settled:
            continue
        rest = (sums[p] - templates[row]) / (size[p] - 1)
        s = float(templates[row] @ rest)
        unlike = 1.0 - alike(s)
        # A no parts the track from the rest: what BCubed's precision gains on both sides.
        fixes = track_faces[row] * (faces[p] - track_faces[row]) / faces[p]
        worth = float(unlike * fixes * sure[row])
        questions.append(Question(p, -1, row, s, unlike, worth))
    questions.sort(key=lambda q: (-q.worth, -q.likelihood))
    return questions[:limit]


def _mean_similarity(sums: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Average-link similarity of every two persons from the sums of their unit descriptors (0 for none)."""
    means = sums / np.maximum(size, 1)[:, None]
    return means @ means.T


def person_pairs(pairs: Sequence[tuple[int, int]], person: np.ndarray) -> dict[tuple[int, int], int]:
    """Track-row pairs counted as the pairs of their persons (a < b), pairs inside one person left out."""
    counted: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        pa, pb = int(person[a]), int(person[b])
        if pa != pb:
            key = (min(pa, pb), max(pa, pb))
            counted[key] = counted.get(key, 0) + 1
    return counted
