"""Box geometry shared by tracking and evaluation: corner boxes (x1, y1, x2, y2) in pixels."""

from __future__ import annotations

import numpy as np


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
