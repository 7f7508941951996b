"""A user-supplied insightface model pack (e.g. buffalo_l) as detector and/or embedder.

Such packs cannot be bundled (licence) or downloaded (offline), so the user copies the .onnx
files into a folder; every model is routed by insightface.model_zoo.get_model and chosen by its
`taskname`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from videoclusternet.models.base import (
    ModelPackError,
    file_sha256_short,
    make_detections,
)
from videoclusternet.models.sface import ArcFaceLikeEmbedder, load_arcface_onnx
from videoclusternet.types import FaceDetections

EXPECTED = (
    "an insightface model pack: the .onnx files of e.g. buffalo_l "
    "(det_10g.onnx for 'detection', w600k_r50.onnx for 'recognition'; others are ignored)"
)


def _load_task(pack_dir: Path | None, task: str):
    """Return (model, path) of the first .onnx in pack_dir whose insightface taskname is `task`."""
    if pack_dir is None:
        raise ModelPackError(f"the 'insightface' models need pack_dir: a folder holding {EXPECTED}")
    pack_dir = Path(pack_dir).expanduser().resolve()
    files = sorted(pack_dir.glob("*.onnx")) if pack_dir.is_dir() else []
    if not files:
        raise ModelPackError(f"no insightface model pack in {pack_dir}: put {EXPECTED} in that folder")
    seen = []
    for path in files:
        try:
            model = load_arcface_onnx(path)
        except Exception as exc:  # corrupt/foreign file: name it instead of a bare ORT trace
            raise ModelPackError(f"cannot load {path} from model pack {pack_dir}: {exc}") from exc
        taskname = getattr(model, "taskname", None)
        seen.append(f"{path.name}={taskname}")
        if taskname == task:
            return model, path
    raise ModelPackError(
        f"model pack {pack_dir} has no '{task}' model (found: {', '.join(seen)}); put {EXPECTED} in that folder"
    )


def _has_graph_normalisation(path: Path) -> bool:
    """True if the graph starts with Sub then Mul on its input, i.e. normalises pixels itself.

    insightface decides this from node *names* of the first 8 nodes, which breaks on re-exported
    or folded graphs; the op pattern is what actually matters.
    """
    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {t.name for t in graph.initializer}
    data = next(i.name for i in graph.input if i.name not in inits)
    first = [n for n in graph.node if data in n.input]
    if len(first) != 1 or first[0].op_type != "Sub":
        return False
    nxt = [n for n in graph.node if first[0].output[0] in n.input]
    return len(nxt) == 1 and nxt[0].op_type in ("Mul", "Div")


class ArcFaceEmbedder(ArcFaceLikeEmbedder):
    """The pack's recognition model (e.g. buffalo_l w600k_r50, 512-D)."""

    name = "insightface"

    def __init__(self, pack_dir: Path | None, batch_size: int | None = None) -> None:
        model, path = _load_task(pack_dir, "recognition")
        if _has_graph_normalisation(path):
            model.input_mean, model.input_std = 0.0, 1.0
        else:  # the ArcFace training normalisation
            model.input_mean, model.input_std = 127.5, 127.5
        super().__init__(model, path, batch_size)


class InsightFaceDetector:
    """The pack's detection model (SCRFD/RetinaFace), letterboxed to `input_size` by insightface."""

    name = "insightface"

    def __init__(
        self,
        pack_dir: Path | None,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.3,
        input_size: tuple[int, int] = (640, 640),
    ) -> None:
        self._model, self.model_path = _load_task(pack_dir, "detection")
        self.version = file_sha256_short(self.model_path)
        self.score_threshold = float(score_threshold)
        self.input_size = input_size
        self._model.prepare(
            0,
            input_size=input_size,
            det_thresh=self.score_threshold,
            nms_thresh=nms_threshold,
        )

    def detect(self, frame_bgr: np.ndarray) -> FaceDetections:
        det, kps = self._model.detect(frame_bgr, input_size=self.input_size, max_num=0)
        n = len(det)
        if kps is None:  # a detector without landmarks cannot feed the aligner
            raise ModelPackError(f"{self.model_path} predicts no 5-point landmarks")
        h, w = frame_bgr.shape[:2]
        boxes = np.asarray(det[:, :4], np.float32).reshape(n, 4)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return make_detections(boxes, kps, det[:, 4])
