"""Time the face models on CPU: detector ms per 640x360 frame, embedder ms per face (batched).

Usage: python bench/bench_models.py [--cache-dir DIR] [--repeats N]
Uses insightface's bundled group photo, so it runs offline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from videoclusternet.align import align_faces
from videoclusternet.models import load_detector, load_embedder
from videoclusternet.models.base import ort_threads


def _ms(fn, repeats: int) -> float:
    fn()  # warm-up: session init, priors, allocations
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats * 1000


def main() -> None:
    import insightface

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "vcn_model_cache")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()

    img = cv2.imread(str(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"))
    frame = cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA)
    print(f"cv2 threads {cv2.getNumThreads()}, onnxruntime intra-op threads {ort_threads()}")

    for name in ("yunet", "retinaface"):
        det = load_detector(name, cache_dir=args.cache_dir)
        n = len(det.detect(frame))
        print(f"{name:<10} {_ms(lambda d=det: d.detect(frame), args.repeats):6.1f} ms/frame 640x360 ({n} faces)")

    faces = load_detector("yunet", cache_dir=args.cache_dir).detect(img)
    crops = align_faces(img, faces.landmarks)
    emb = load_embedder("sface", cache_dir=args.cache_dir)
    print(f"align      {_ms(lambda: align_faces(img, faces.landmarks), args.repeats) / len(faces):6.2f} ms/face")
    for batch in (1, 8, 64):
        many = np.resize(crops, (batch, *crops.shape[1:]))
        ms = _ms(lambda m=many: emb.embed(m), max(3, args.repeats // batch))
        print(f"sface      {ms / batch:6.1f} ms/face (batch {batch})")


if __name__ == "__main__":
    main()
