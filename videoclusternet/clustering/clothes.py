"""The clothes' say in how alike two tracks are, calibrated on the title's own pairs of different people.

Within a title a person's clothes tell them apart where a generic face model cannot (friends' kept tracks: pair
ROC AUC 0.96 for the colours below the face against 0.80 for SFace). Tracks seen in one frame are two people:
their similarities say what "different people" looks like for the face and for the clothes, so the clothes are
put on the face's scale from those pairs alone, for any face model: centred on the different-people median, and
one spread of the clothes worth a quarter of one spread of the face. Clothes more alike than two different
people's pull two tracks together anywhere (a costume). Clothes less alike push two tracks apart only where a
person would still wear the same ones: inside one scene (an episode of a season) and within `CLOTHES_HOLD_S` of
each other. People change clothes between episodes, and inside one too: friends' clip changes into formal wear.

Measured on the stored tracks of the three evaluation clips, average-link at its default threshold (README):
friends 0.836 to 0.850 with the pipeline's faces when the clothes pushed across the whole title, 0.916 when they
push only within 20 s; hamilton 0.941 to 0.969 (a blurred track no longer joins an audience member, 6 s from
it); tbbt 0.948 to 0.951. Any hold from 10 to 40 s gives all three their best; pushing nowhere loses hamilton's
and tbbt's gains, pushing 45 s or more apart splits friends' people who changed. Half the weight moves friends as
much on average; a constant weight instead of the title's spreads did not do better.
"""

from __future__ import annotations

import numpy as np

CLOTHES_WEIGHT = 0.25  # one spread of the clothes' similarity, in spreads of the face's
# Seconds between two tracks (the last face of one, the first of the other) within which unlike clothes still
# say "two people": the middle of the 10 to 40 s that keep all three evaluation clips at their best (README).
CLOTHES_HOLD_S = 20.0


def track_spans(seconds: np.ndarray, face_track: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """Per track of `tracks`: the time of its first and of its last face [T, 2], from each face's `seconds` and
    track (`face_track`); faces of other tracks are ignored, a track without faces gets zeros."""
    spans = np.full((len(tracks), 2), [np.inf, -np.inf])
    if len(tracks):
        order = np.argsort(tracks)
        at = np.minimum(np.searchsorted(tracks[order], face_track), len(tracks) - 1)
        inside = tracks[order][at] == face_track
        rows, when = order[at][inside], np.asarray(seconds, np.float64)[inside]
        np.minimum.at(spans[:, 0], rows, when)
        np.maximum.at(spans[:, 1], rows, when)
    return np.where(np.isfinite(spans), spans, 0.0)


def clothes_can_push(scene: np.ndarray, spans: np.ndarray | None) -> np.ndarray:
    """[T, T]: whether unlike clothes may push two tracks apart: same scene and, where `spans` are known, at most
    `CLOTHES_HOLD_S` between them."""
    push = scene[:, None] == scene[None]
    if spans is None:
        return push
    gap = np.maximum(spans[:, None, 0] - spans[None, :, 1], spans[None, :, 0] - spans[:, None, 1])
    return push & (gap <= CLOTHES_HOLD_S)


def clothes_evidence(
    templates: np.ndarray,
    context: np.ndarray,
    scene: np.ndarray,
    apart: np.ndarray,
    spans: np.ndarray | None = None,
) -> np.ndarray | None:
    """What to add to the template cosines of every two track rows [T, T] for their clothes: 0 for a pair without
    a clothes descriptor (a row of zeros in `context`, unit rows [T, C]), never below 0 for a pair in two scenes
    or, where `spans` (`track_spans`, seconds within the scene) are given, further apart than `CLOTHES_HOLD_S`.
    `apart` [P, 2] are pairs of rows of two people, to calibrate on. None where the title gives nothing to calibrate
    on: fewer than two such pairs with clothes, or no spread."""
    pairs = np.asarray(apart, np.int64).reshape(-1, 2)
    if len(pairs) < 2:
        return None
    has = np.abs(context).sum(axis=1) > 0
    dressed = has[:, None] & has[None]
    clothes = context.astype(np.float64) @ context.T.astype(np.float64)
    a, b = pairs.T
    face_apart = np.einsum("ij,ij->i", templates[a].astype(np.float64), templates[b].astype(np.float64))
    clothes_apart = clothes[a, b][dressed[a, b] & (scene[a] == scene[b])]
    if len(clothes_apart) < 2 or clothes_apart.std() <= 0 or face_apart.std() <= 0:
        return None
    says = CLOTHES_WEIGHT * face_apart.std() / clothes_apart.std() * (clothes - np.median(clothes_apart))
    return np.where(dressed, np.where(clothes_can_push(scene, spans), says, np.maximum(says, 0.0)), 0.0)
