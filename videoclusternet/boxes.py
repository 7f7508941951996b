"""Box geometry shared by tracking and evaluation: corner boxes (x1, y1, x2, y2) in pixels."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_FACE_IOU = 0.5  # two detections of one frame are the same face above this overlap


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of corner boxes (x1, y1, x2, y2) in the last axis, broadcast; continuous coordinates, 0 for empty unions."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    side = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = side[..., 0] * side[..., 1]
    size_a, size_b = np.clip(a[..., 2:] - a[..., :2], 0, None), np.clip(b[..., 2:] - b[..., :2], 0, None)
    union = size_a[..., 0] * size_a[..., 1] + size_b[..., 0] * size_b[..., 1] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of a [n, 4] and every box of b [m, 4]: [n, m]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return paired_iou(a[:, None, :], b[None, :, :])


def match_faces(old_keys: np.ndarray, old_boxes: np.ndarray, new_keys: np.ndarray, new_boxes: np.ndarray) -> np.ndarray:
    """For each new face, the index of the old face it is (same key, e.g. title and frame, and box overlap of
    at least MIN_FACE_IOU, one to one within a key), or -1. Keys are int64."""
    matched = np.full(len(new_keys), -1, np.int64)
    if not len(old_keys) or not len(new_keys):
        return matched
    old_order, new_order = np.argsort(old_keys, kind="stable"), np.argsort(new_keys, kind="stable")
    old_sorted, new_sorted = old_keys[old_order], new_keys[new_order]
    for key in np.intersect1d(old_sorted, new_sorted):
        olds = old_order[np.searchsorted(old_sorted, key) : np.searchsorted(old_sorted, key, side="right")]
        news = new_order[np.searchsorted(new_sorted, key) : np.searchsorted(new_sorted, key, side="right")]
        overlap = iou_matrix(new_boxes[news], old_boxes[olds])
        for i, j in zip(*linear_sum_assignment(-overlap)):
            if overlap[i, j] >= MIN_FACE_IOU:
                matched[news[i]] = olds[j]
    return matched
