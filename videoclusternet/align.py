"""Align faces to the 112x112 ArcFace crop that SFace/ArcFace embedders were trained on."""

from __future__ import annotations

import cv2
import numpy as np

# Destination of the 5 landmarks (image-left eye, image-right eye, nose, image-left mouth
# corner, image-right mouth corner) in the canonical 112x112 ArcFace crop.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
CROP_SIZE = 112


def similarity_transform(src: np.ndarray, dst: np.ndarray = ARCFACE_TEMPLATE) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) src->dst, as a 2x3 matrix.

    Exact Umeyama (1991) solution: deterministic and outlier-free points need no RANSAC/LMEDS. Kept rather than
    insightface's `face_align.estimate_norm`: that one goes through skimage in float32 (matrices differ by up to
    3e-4, crops by up to 4 grey levels), warns that skimage's `estimate` is deprecated, and costs twice as long.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # forbid reflections
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var = src_c.var(0).sum()
    scale = (s * d).sum() / var if var > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = dst_mean - m[:, :2] @ src_mean
    return m


def align_faces(frame_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Warp each face (landmarks [N,5,2] in frame pixels) to a 112x112 BGR uint8 crop."""
    landmarks = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
    out = np.empty((len(landmarks), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, pts in enumerate(landmarks):
        m = similarity_transform(pts)
        out[i] = cv2.warpAffine(frame_bgr, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
    return out
