"""Link face detections into tracks inside a shot.

Frame by frame, live tracks are matched to the new detections by an optimal assignment
(Hungarian) on a cost mixing box overlap with the motion-predicted box and appearance
similarity. A track never crosses a shot cut: all live tracks end at a cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from videoclusternet.boxes import iou_matrix


@dataclass(frozen=True)
class TrackerConfig:
    """Gates of the linker. Gaps are in seconds so the same config serves any frame rate or stride."""

    max_gap_s: float = 0.5  # a face may be missed this long (occlusion, a missed detection) and still continue
    min_iou: float = 0.2  # overlap gate with the predicted box
    min_appearance: float = 0.5  # appearance gate when the box moved too far to overlap
    max_center_shift: float = 1.0  # ... but only within this many face widths of the predicted box
    appearance_weight: float = 0.4


@dataclass
class _LiveTrack:
    track_id: int
    box: np.ndarray
    frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    appearance: np.ndarray | None = None


def appearance_descriptors(crops: np.ndarray) -> np.ndarray:
    """Cheap colour descriptor of aligned crops [N, 112, 112, 3]: a Hellinger-normalised HSV histogram.

    Tracking needs only to tell apart the few faces on screen at once, so a histogram
    (about 0.05 ms a face) serves where a face-ID embedding (about 17 ms) would be wasted.
    """
    out = np.zeros((len(crops), 8 * 4 * 4), np.float32)
    for i, crop in enumerate(crops):
        hsv = cv2.cvtColor(crop[16:96, 16:96], cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
        out[i] = np.sqrt(hist / max(float(hist.sum()), 1.0))
    return out


def link_tracks(
    frame_idx: np.ndarray,
    shot_idx: np.ndarray,
    boxes: np.ndarray,
    appearance: np.ndarray,
    fps: float,
    config: TrackerConfig = TrackerConfig(),
) -> np.ndarray:
    """Assign a track id to every detection; ids count from 0 in order of first appearance.

    `appearance` rows must be L2-normalised (as `appearance_descriptors` returns them).
    """
    n = len(frame_idx)
    track_of = np.full(n, -1, np.int64)
    max_gap = max(1, int(round(config.max_gap_s * fps)))
    order = np.lexsort((np.arange(n), frame_idx))
    live: list[_LiveTrack] = []
    current_shot = None
    next_id = 0
    start = 0
    while start < n:
        frame = int(frame_idx[order[start]])
        stop = start
        while stop < n and frame_idx[order[stop]] == frame:
            stop += 1
        dets = order[start:stop]
        start = stop
        shot = int(shot_idx[dets[0]])
        if shot != current_shot:
            live, current_shot = [], shot
        live = [t for t in live if frame - t.frame <= max_gap]
        matched = _match(live, dets, frame, boxes, appearance, config)
        for det in dets:
            track = matched.get(int(det))
            if track is None:
                track = _LiveTrack(next_id, boxes[det].copy(), frame, appearance=appearance[det].copy())
                next_id += 1
                live.append(track)
            else:
                gap = frame - track.frame
                track.velocity = 0.5 * track.velocity + 0.5 * (boxes[det] - track.box) / gap
                track.box, track.frame = boxes[det].copy(), frame
                track.appearance = 0.7 * track.appearance + 0.3 * appearance[det]
                track.appearance /= max(float(np.linalg.norm(track.appearance)), 1e-9)
            track_of[det] = track.track_id
    return track_of


def _match(
    live: list[_LiveTrack],
    dets: np.ndarray,
    frame: int,
    boxes: np.ndarray,
    appearance: np.ndarray,
    config: TrackerConfig,
) -> dict[int, _LiveTrack]:
    if not live:
        return {}
    predicted = np.stack([t.box + t.velocity * (frame - t.frame) for t in live])
    det_boxes = boxes[dets]
    iou = iou_matrix(predicted, det_boxes)
    similarity = np.stack([t.appearance for t in live]) @ appearance[dets].T
    width = np.maximum(predicted[:, 2] - predicted[:, 0], 1.0)
    shift = np.linalg.norm(_centres(predicted)[:, None, :] - _centres(det_boxes)[None, :, :], axis=2) / width[:, None]
    allowed = (iou >= config.min_iou) | ((similarity >= config.min_appearance) & (shift <= config.max_center_shift))
    w = config.appearance_weight
    cost = 1.0 - ((1 - w) * iou + w * similarity)
    cost = np.where(allowed, cost, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return {int(dets[c]): live[r] for r, c in zip(rows, cols) if allowed[r, c]}


def _centres(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)


def stride_gaps(frame: np.ndarray, track: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frames a track stepped over because detection looked at every `stride`-th frame only: per such frame,
    the index (into `frame`/`track`) of the track's face before it and of the face after it. Only gaps of at
    most `stride` frames: a longer one is a face the detector missed or that was hidden, which is not invented."""
    order = np.lexsort((frame, track))
    before, after = order[:-1], order[1:]
    step = frame[after] - frame[before]
    gap = (track[before] == track[after]) & (step > 1) & (step <= stride)
    before, after, step = before[gap], after[gap], step[gap]
    missing = np.concatenate([frame[b] + np.arange(1, s) for b, s in zip(before, step)] or [np.zeros(0, np.int64)])
    return missing.astype(np.int64), np.repeat(before, step - 1), np.repeat(after, step - 1)
