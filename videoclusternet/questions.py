"""Which questions to ask first, so that each answer fixes as much of a cast as it can.

Two kinds of question:
- "same person?" for two persons that may be one (never a pair answered or told apart): a yes merges them
  (confirm);
- "is this track this person?" for a track that may not belong with the rest of its person: a no moves it
  out (to a person of its own).

A question's worth is how likely the answer that fixes something is, times how much it fixes. Likely: from
the title's own evidence, on any embedder's scale: persons seen in one frame are two people, and so are those
an answer told apart, so the similarities of those pairs (the negatives) say what "different people" looks
like, better with every no. A pair more alike than
most negatives is likely one person; a track less alike its person than most negatives are is likely not
that person. But one wrong track, or two boxes on one face, is enough for two halves of one person to be
seen "together": a pair seen together through n pairs of tracks keeps 1 / (1 + n) of its likelihood, so two
large halves that share a frame once are still asked about, and two people often on screen together are
not. Fixes: the pairs of faces a merge joins (`faces_a x faces_b`), or a move parts, which is what BCubed
counts.
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
) -> list[Question]:
    """The `limit` most worthwhile questions, best first. `templates`: unit track templates [T, D]; `person`:
    each track's person row 0..P-1; `track_faces`: each track's face count; `apart`: person pairs seen in one
    frame (or told apart); `answered`: person pairs already answered; `settled`: track rows already confirmed."""
    n = int(person.max()) + 1 if len(person) else 0
    if n == 0:
        return []
    sums = np.zeros((n, templates.shape[1]))
    np.add.at(sums, person, templates)
    size = np.bincount(person, minlength=n).astype(float)
    faces = np.bincount(person, weights=track_faces, minlength=n)
    means = sums / size[:, None]
    similarity = means @ means.T
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
                worth = float(likely * faces[a] * faces[b])
                questions.append(Question(a, b, None, float(similarity[a, b]), likely, worth))
    for row in range(len(person)):
        p = int(person[row])
        if size[p] < 2 or row in settled:
            continue
        rest = (sums[p] - templates[row]) / (size[p] - 1)
        s = float(templates[row] @ rest)
        unlike = 1.0 - alike(s)
        worth = float(unlike * track_faces[row] * (faces[p] - track_faces[row]))
        questions.append(Question(p, -1, row, s, unlike, worth))
    questions.sort(key=lambda q: (-q.worth, -q.likelihood))
    return questions[:limit]


def person_pairs(pairs: Sequence[tuple[int, int]], person: np.ndarray) -> dict[tuple[int, int], int]:
    """Track-row pairs counted as the pairs of their persons (a < b), pairs inside one person left out."""
    counted: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        pa, pb = int(person[a]), int(person[b])
        if pa != pb:
            key = (min(pa, pb), max(pa, pb))
            counted[key] = counted.get(key, 0) + 1
    return counted
