"""Protocols shared by the model families, plus onnxruntime and OpenVINO session settings."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from videoclusternet.types import FaceDetections


class ModelPackError(Exception):
    """A user-supplied model pack is missing or incomplete; the message says what to put where."""


@runtime_checkable
class Detector(Protocol):
    name: str
    version: str  # short hash of the weights actually run: changes invalidate cached results

    def detect(self, frame_bgr: np.ndarray) -> FaceDetections:
        """Faces of ONE frame; frame_idx is 0 (the caller sets it)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """[N,112,112,3] uint8 BGR aligned crops -> [N,dim] float32 RAW (un-normalised) vectors.

        Raw, because the norm carries signal: real faces have a clearly larger norm than false
        detections.
        """
        ...


def file_sha256_short(path: Path) -> str:
    from videoclusternet.models.cache import file_sha256

    return file_sha256(path)[:12]


def bytes_sha256_short(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def ort_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, CPU always as fallback."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider",) if p in available]
    return [*providers, "CPUExecutionProvider"]


def embedding_batch_size() -> int:
    """Faces per inference call of an embedder. On the CPU, the runtimes keep the activations of the largest
    batch they have run: SFace on onnxruntime holds 0.84 GB after batches of 64 faces, 0.18 GB after 16, on
    OpenVINO 0.39 and 0.13 GB, at the same ms per face (bench/bench_models.py). A GPU gains from the larger batch."""
    return 64 if "CUDAExecutionProvider" in ort_providers() else 16


def ort_threads() -> int:
    """Intra-op threads: VCN_ORT_THREADS, else the CPUs this process may use.

    onnxruntime's default counts the host's cores, which can exceed what a container or a
    parallel worker actually gets and then oversubscribes.
    """
    env = os.environ.get("VCN_ORT_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def ort_session_options(threads: int | None = None):  # -> onnxruntime.SessionOptions
    """Session options with `threads` intra-op threads (default `ort_threads()`)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or ort_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # hide harmless shape-inference warnings
    return opts


def ort_session(model: Path | bytes, threads: int | None = None):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, sess_options=ort_session_options(threads), providers=ort_providers())


def openvino_forward(model: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The model's first output for a batch (any size) on OpenVINO's CPU plugin, on `ort_threads()` threads. Its
    kernels run SFace 1.6 times faster than OpenCV's DNN module on this machine's CPU, with embeddings within 1e-5
    of OpenCV's (README: speed)."""
    import openvino as ov

    core = ov.Core()
    network = core.read_model(str(model))
    shape = network.inputs[0].get_partial_shape()
    shape[0] = -1  # any batch size
    network.reshape({network.inputs[0]: shape})
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": ort_threads()}
    request = core.compile_model(network, "CPU", config).create_infer_request()

    def forward(batch: np.ndarray) -> np.ndarray:
        return request.infer({0: batch})[0].copy()  # the request's buffer is reused by the next call

    return forward


def model_forward(model: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The model's first output for a batch: onnxruntime where it has CUDA, else OpenVINO on the CPU."""
    if "CUDAExecutionProvider" not in ort_providers():
        return openvino_forward(model)
    session = ort_session(model)
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def make_detections(boxes: np.ndarray, landmarks: np.ndarray, scores: np.ndarray) -> FaceDetections:
    n = len(scores)
    return FaceDetections(
        frame_idx=np.zeros(n, np.int64),
        boxes=np.asarray(boxes, np.float32).reshape(n, 4),
        landmarks=np.asarray(landmarks, np.float32).reshape(n, 5, 2),
        scores=np.asarray(scores, np.float32).reshape(n),
    )


class BatchedEmbedder:
    """An embedder that runs `_run` over its crops `batch_size` at a time."""

    dim: int
    batch_size: int

    def _run(self, crops: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """[N,112,112,3] uint8 BGR aligned crops -> [N,dim] float32 raw vectors; N=0 gives [0,dim]."""
        crops = np.asarray(crops, np.uint8)
        if crops.ndim != 4 and len(crops) != 0:
            raise ValueError(f"expected [N,112,112,3] crops, got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        parts = [self._run(crops[i : i + self.batch_size]) for i in range(0, len(crops), self.batch_size)]
        return np.concatenate(parts).astype(np.float32, copy=False)
