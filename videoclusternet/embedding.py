"""Which faces of a track to embed, and how a track's faces become one template."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from videoclusternet.models.base import Embedder


def choose_faces(track_of: np.ndarray, frame_idx: np.ndarray, quality: np.ndarray, per_track: int) -> np.ndarray:
    """Indices of at most `per_track` faces per track: the best-quality face of each of
    `per_track` equal stretches of the track, so the sample spans the track's poses and lighting."""
    chosen: list[np.ndarray] = []
    order = np.lexsort((frame_idx, track_of))
    bounds = np.flatnonzero(np.diff(track_of[order])) + 1
    for members in np.split(order, bounds):
        if members.size == 0 or track_of[members[0]] < 0:
            continue
        if members.size <= per_track:
            chosen.append(members)
            continue
        chosen.append(np.array([part[np.argmax(quality[part])] for part in np.array_split(members, per_track)]))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def faces_per_track(
    n_tracks: int, duration_s: float, per_video_second: float | None, most: int, least: int, step: int = 1
) -> int:
    """How many faces to embed per track: `most`, or, with a budget of `per_video_second`, so that a title's
    embedding work grows with its length, not its crowd.

    With a budget, a crowded short clip gets fewer, never fewer than `least`; a long title with fewer tracks
    per second keeps the full `most`. A multiple of `step`, so that `choose_faces` picks a superset of an
    earlier `step`-face sample and those embeddings are reused.
    """
    budget = most if n_tracks == 0 or per_video_second is None else per_video_second * duration_s // n_tracks
    return int(np.clip(budget, least, most) // step * step)


def mirrored(crops: np.ndarray) -> np.ndarray:
    """Aligned crops [N, H, W, 3] flipped left-right (the ArcFace template is symmetric)."""
    return np.ascontiguousarray(crops[:, :, ::-1])


def with_mirror(embedder: Embedder, crops: np.ndarray, upright: np.ndarray | None = None) -> np.ndarray:
    """The faces' embeddings as the pipeline keeps them by default: the crop's plus its mirror image's, less
    pose-dependent (+0.09 BCubed F on friends while faces alone decided; since the clustering weighs clothes, no
    better over random samples of faces, README). `upright`: the crops' own, when already known."""
    return (embedder.embed(crops) if upright is None else upright) + embedder.embed(mirrored(crops))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
