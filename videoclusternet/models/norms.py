"""How an embedder's raw norms compare with SFace's, measured on the same real faces.

The quality filter's norm limits were measured with SFace (sharp real faces about 9-11, false
positives about 4-7). Another model's norms live on another scale (insightface's w600k_mbf: about
1.9 times SFace's), so its limits are SFace's times the ratio of the two models' median norms on the
faces of a photo that insightface ships: its sample `t1.jpg`, six people facing the camera.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from videoclusternet.align import align_faces
from videoclusternet.models.base import Embedder
from videoclusternet.models.sface import SFaceEmbedder
from videoclusternet.models.yunet import YuNetDetector


@lru_cache(maxsize=2)
def reference_faces(cache_dir: Path) -> np.ndarray:
    """The aligned faces of insightface's sample photo t1.jpg (YuNet landmarks)."""
    import insightface

    photo = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    image = cv2.imread(str(photo))
    if image is None:
        raise FileNotFoundError(f"cannot read insightface's sample photo {photo}")
    return align_faces(image, YuNetDetector(cache_dir).detect(image).landmarks)


@lru_cache(maxsize=8)
def norm_scale(embedder: Embedder, cache_dir: Path) -> float:
    """The embedder's median raw norm over SFace's, on the reference faces (1.0 for SFace itself)."""
    if embedder.name == SFaceEmbedder.name:
        return 1.0
    faces = reference_faces(Path(cache_dir))
    own = np.median(np.linalg.norm(embedder.embed(faces), axis=1))
    return float(own / np.median(np.linalg.norm(SFaceEmbedder(Path(cache_dir)).embed(faces), axis=1)))
