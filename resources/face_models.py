"""Which face detector and embedder run, loaded once per process."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import dagster as dg

from videoclusternet.models import Detector, Embedder, load_detector, load_embedder


@lru_cache(maxsize=16)
def _detector(
    name: str, cache_dir: str, pack_dir: str | None, score_threshold: float | None, replica: int = 0
) -> Detector:
    """One loaded detector per `replica`: parallel detection workers each need their own."""
    return load_detector(
        name, cache_dir=Path(cache_dir), pack_dir=Path(pack_dir) if pack_dir else None, score_threshold=score_threshold
    )


@lru_cache(maxsize=4)
def _embedder(name: str, cache_dir: str, pack_dir: str | None) -> Embedder:
    return load_embedder(name, cache_dir=Path(cache_dir), pack_dir=Path(pack_dir) if pack_dir else None)


class FaceModelsResource(dg.ConfigurableResource):
    """Model registry: `yunet`/`retinaface`/`insightface` detectors, `sface`/`insightface` embedders.

    `insightface` reads a user-supplied model pack (e.g. buffalo_l) from `pack_dir`.
    """

    home: str
    detector_name: str = "yunet"
    embedder_name: str = "sface"
    pack_dir: str | None = None
    detector_score_threshold: float | None = None
    model_cache: str | None = None  # where folded models live; default `<home>/models`
    detect_workers: int = 0  # detectors working on frames in parallel; 0: one per CPU core, at most 4

    @property
    def cache_dir(self) -> str:
        return self.model_cache or str(Path(self.home) / "models")

    def detectors(self) -> list[Detector]:
        workers = self.detect_workers or min(os.cpu_count() or 1, 4)
        return [
            _detector(self.detector_name, self.cache_dir, self.pack_dir, self.detector_score_threshold, replica)
            for replica in range(workers)
        ]

    def embedder(self) -> Embedder:
        return _embedder(self.embedder_name, self.cache_dir, self.pack_dir)
