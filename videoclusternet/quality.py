"""Per-face quality and the per-track decision: keep, or set aside with a reason.

Thresholds come from the title's own statistics (median and MAD of the tracks), with fixed
bounds only where a physical limit exists (a face needs some pixels; a track needs a few frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

KEPT, LOW_QUALITY, TOO_SHORT, NOT_A_FACE = "kept", "low_quality", "too_short", "not_a_face"
MAD_TO_SIGMA = 1.4826


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian inside the aligned face (higher is sharper), one value per crop."""
    out = np.zeros(len(crops), np.float32)
    for i, crop in enumerate(crops):
        gray = cv2.cvtColor(crop[24:100, 20:92], cv2.COLOR_BGR2GRAY)
        out[i] = cv2.Laplacian(gray, cv2.CV_32F).var()
    return out


def face_size(boxes: np.ndarray) -> np.ndarray:
    """Geometric mean of box width and height, in pixels."""
    return np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))


def frontality(landmarks: np.ndarray) -> np.ndarray:
    """How squarely a face looks at the camera, 1 (frontal) to 0 (profile), from its 5 landmarks [N, 5, 2]
    (eyes, nose, mouth corners): the nose's distance from the line through the midpoints of the eyes and of the
    mouth, in face heights (that line's length; it shortens little as a head turns). A nose not between the
    eyes and the mouth (landmarks a detector put on the back of a head) scores 0."""
    eyes = (landmarks[:, 0] + landmarks[:, 1]) / 2
    axis = (landmarks[:, 3] + landmarks[:, 4]) / 2 - eyes
    height = np.maximum(np.linalg.norm(axis, axis=1), 1e-6)
    nose = landmarks[:, 2] - eyes
    along = (nose * axis).sum(axis=1) / height**2  # 0 at the eyes, 1 at the mouth (ArcFace template: 0.49)
    lateral = np.abs(axis[:, 0] * nose[:, 1] - axis[:, 1] * nose[:, 0]) / height**2
    return np.clip(1 - 2 * lateral, 0, 1) * ((along > 0) & (along < 1))


def picture_quality(score: np.ndarray, sharpness_values: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Which faces to show a person first: sharp, frontal, surely a face. The product of the detector's score,
    the log of the sharpness (a black or blurred crop scores 0) and the frontality."""
    return score * np.log1p(np.clip(sharpness_values, 0, None)) * frontality(landmarks)


def robust_low_fence(values: np.ndarray, k: float) -> float:
    """median - k robust sigmas; NaN for no data."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    med = float(np.median(values))
    return med - k * MAD_TO_SIGMA * float(np.median(np.abs(values - med)))


@dataclass(frozen=True)
class QualityPolicy:
    """Fixed limits; everything else is derived per title by `derive_thresholds`."""

    min_track_faces: int = 3  # fewer detections cannot be told from a detector flicker
    min_face_px: float = 16.0  # below this no face-ID model sees an identity
    fence_sigmas: float = 3.5  # how far below the title's typical track a track must fall to be set aside
    # Raw SFace norm: sharp faces about 9-11, false positives about 4-7, but small or blurred real
    # faces also fall to 5-6 (measured on TV footage). So a low norm alone sets a track aside only
    # below `norm_floor`; under `doubtful_norm` it needs the detector to be unsure as well.
    norm_floor: float = 5.0
    doubtful_norm: float = 6.5
    doubtful_score: float = 0.5
    norm_scale: float = 1.0  # the embedder's norms over SFace's (`models.norms.norm_scale`)


@dataclass(frozen=True)
class QualityThresholds:
    min_track_faces: int
    min_face_px: float
    min_log_sharpness: float
    min_raw_norm: float
    doubtful_norm: float
    doubtful_score: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def derive_thresholds(best_log_sharpness: np.ndarray, policy: QualityPolicy) -> QualityThresholds:
    """Per-title thresholds from per-track summaries (only tracks long enough to judge)."""
    sharp_fence = robust_low_fence(best_log_sharpness, policy.fence_sigmas)
    return QualityThresholds(
        min_track_faces=policy.min_track_faces,
        min_face_px=policy.min_face_px,
        min_log_sharpness=sharp_fence if np.isfinite(sharp_fence) else -np.inf,
        min_raw_norm=policy.norm_floor * policy.norm_scale,
        doubtful_norm=policy.doubtful_norm * policy.norm_scale,
        doubtful_score=policy.doubtful_score,
    )


def track_status(
    n_faces: int,
    best_size: float,
    best_log_sharpness: float,
    median_norm: float,
    median_score: float,
    th: QualityThresholds,
) -> tuple[str, str]:
    """(status, reason) of one track; the reason is readable and carries the numbers."""
    if n_faces < th.min_track_faces:
        return TOO_SHORT, f"{n_faces} faces < {th.min_track_faces}"
    if median_norm < th.min_raw_norm:
        return NOT_A_FACE, f"median raw embedding norm {median_norm:.2f} < {th.min_raw_norm:.2f}"
    if median_norm < th.doubtful_norm and median_score < th.doubtful_score:
        return NOT_A_FACE, (
            f"median raw embedding norm {median_norm:.2f} < {th.doubtful_norm:.2f} "
            f"and median detector score {median_score:.2f} < {th.doubtful_score:.2f}"
        )
    if best_size < th.min_face_px:
        return LOW_QUALITY, f"largest face {best_size:.0f}px < {th.min_face_px:.0f}px"
    if best_log_sharpness < th.min_log_sharpness:
        return LOW_QUALITY, f"sharpest face log-sharpness {best_log_sharpness:.2f} < {th.min_log_sharpness:.2f}"
    return KEPT, ""
