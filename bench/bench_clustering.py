"""How a clusterer's time grows with the number of tracks (synthetic tracks).

Tracks are drawn around one centre per identity (about 20 tracks per identity, 8 faces per track,
128-D like SFace), with a cannot-link pair for every 10th track, and clustered by `adaptive_merge`
(cosine loss) or the clusterer named. Prints tracks, faces, identities found vs drawn, seconds and
microseconds per track.

    python bench/bench_clustering.py [--tracks 1000 10000 50000] [--clusterer average_link]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from videoclusternet.clustering import CLUSTERERS, AdaptiveMergeClusterer, TrackFaces, make_clusterer  # noqa: E402


def synthetic_tracks(n_tracks: int, faces: int = 8, dim: int = 128, seed: int = 0) -> tuple[TrackFaces, int]:
    rng = np.random.default_rng(seed)
    people = max(n_tracks // 20, 1)
    centres = rng.normal(size=(people, dim)).astype(np.float32)
    person = rng.integers(0, people, n_tracks)
    rows = np.repeat(np.arange(n_tracks), faces)
    vectors = centres[person[rows]] + 0.6 * rng.normal(size=(len(rows), dim)).astype(np.float32)
    return TrackFaces.from_embeddings(vectors, rows, n_tracks), len(np.unique(person))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--clusterer", default=AdaptiveMergeClusterer.name, choices=CLUSTERERS)
    args = parser.parse_args()
    clusterer = make_clusterer(args.clusterer)
    print(f"{'tracks':>8} {'faces':>8} {'people':>7} {'found':>7} {'seconds':>8} {'us/track':>9}")
    for n in args.tracks:
        faces, people = synthetic_tracks(n)
        cannot_link = {(i, i + 1) for i in range(0, n - 1, 10)}
        started = time.perf_counter()
        labels = clusterer.fit(faces, cannot_link)
        seconds = time.perf_counter() - started
        found = len(np.unique(labels))
        print(f"{n:>8} {len(faces.track_row):>8} {people:>7} {found:>7} {seconds:>8.2f} {1e6 * seconds / n:>9.0f}")


if __name__ == "__main__":
    main()
