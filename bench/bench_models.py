"""Time the face models on CPU: detector ms per 640x360 frame, embedder ms per face and memory per batch size.

Usage: python bench/bench_models.py [--cache-dir DIR] [--repeats N]
Uses insightface's bundled group photo, so it runs offline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from bench_pipeline import resident_mb

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

    for name in ("yunet", "yunet_onnxruntime", "retinaface"):
        det = load_detector(name, cache_dir=args.cache_dir)
        n = len(det.detect(frame))
        print(f"{name:<17} {_ms(lambda d=det: d.detect(frame), args.repeats):6.1f} ms/frame 640x360 ({n} faces)")

    faces = load_detector("yunet", cache_dir=args.cache_dir).detect(img)
    crops = align_faces(img, faces.landmarks)
    emb = load_embedder("sface", cache_dir=args.cache_dir)
    print(f"align      {_ms(lambda: align_faces(img, faces.landmarks), args.repeats) / len(faces):6.2f} ms/face")
    # Ascending batches: onnxruntime's arena keeps the largest batch's activations, so the growth of the
    # process's memory since the first call is what a batch of that size holds (the default is
    # embedding_batch_size()).
    held = resident_mb(os.getpid())
    many = np.resize(crops, (256, *crops.shape[1:]))
    for batch in (1, 8, 16, 32, 64):
        emb.batch_size = batch
        ms = _ms(lambda: emb.embed(many), 3)
        grown = resident_mb(os.getpid()) - held
        print(f"sface      {ms / len(many):6.1f} ms/face (batch {batch}), memory +{grown:4.0f} MB")


if __name__ == "__main__":
    main()
