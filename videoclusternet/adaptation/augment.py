"""Augmentations that keep identity: mirror, small rotation and scale, colour temperature, brightness, blur."""

from __future__ import annotations

import cv2
import numpy as np


def augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random identity-preserving view of an aligned 112x112 BGR crop."""
    out = crop[:, ::-1] if rng.random() < 0.5 else crop
    angle, scale = rng.uniform(-8, 8), rng.uniform(0.92, 1.08)
    m = cv2.getRotationMatrix2D((55.5, 55.5), angle, scale)
    out = cv2.warpAffine(np.ascontiguousarray(out), m, (112, 112), borderMode=cv2.BORDER_REFLECT)
    warm = rng.uniform(-0.08, 0.08)  # colour temperature: blue down, red up (or the reverse)
    gains = np.array([1 - warm, 1.0, 1 + warm]) * rng.uniform(0.8, 1.2)
    out = np.clip(out.astype(np.float32) * gains, 0, 255).astype(np.uint8)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return out


def augmented_views(crops: np.ndarray, views: int, seed: int) -> np.ndarray:
    """[N, views, 112, 112, 3]: view 0 the crop itself, view 1 its mirror, the rest random augmentations."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(crops), views, 112, 112, 3), np.uint8)
    for i, crop in enumerate(crops):
        out[i, 0] = crop
        if views > 1:
            out[i, 1] = crop[:, ::-1]
        for v in range(2, views):
            out[i, v] = augment(crop, rng)
    return out
