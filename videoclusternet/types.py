"""Plain data passed between the stages of the method. Columnar numpy arrays, no framework types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What a probe of the container says about a video."""

    path: str
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    rotation: int
    codec: str


@dataclass(frozen=True)
class Shot:
    """A run of frames between two cuts; `end_frame` is inclusive."""

    shot_id: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float


@dataclass
class FaceDetections:
    """Faces found on frames, one row per face.

    boxes are pixel corners (x1, y1, x2, y2) of the original frame; landmarks are the 5 points
    (right eye, left eye, nose, right mouth corner, left mouth corner, as seen in the image: the
    ArcFace order) in the same coordinates.
    """

    frame_idx: np.ndarray  # int64 [N]
    boxes: np.ndarray  # float32 [N, 4]
    landmarks: np.ndarray  # float32 [N, 5, 2]
    scores: np.ndarray  # float32 [N]

    def __len__(self) -> int:
        return int(self.frame_idx.shape[0])

    @staticmethod
    def empty() -> FaceDetections:
        return FaceDetections(
            frame_idx=np.zeros(0, np.int64),
            boxes=np.zeros((0, 4), np.float32),
            landmarks=np.zeros((0, 5, 2), np.float32),
            scores=np.zeros(0, np.float32),
        )

    @staticmethod
    def concat(parts: list[FaceDetections]) -> FaceDetections:
        if not parts:
            return FaceDetections.empty()
        return FaceDetections(
            frame_idx=np.concatenate([p.frame_idx for p in parts]).astype(np.int64),
            boxes=np.concatenate([p.boxes for p in parts]).astype(np.float32),
            landmarks=np.concatenate([p.landmarks for p in parts]).astype(np.float32),
            scores=np.concatenate([p.scores for p in parts]).astype(np.float32),
        )
