"""Ablation: what adapting the face model to each title buys.

For each clip folder with a faces.csv (default: every one in ../shared/data/clips), run `vcn run` with
adaptation in a fresh home, score it with ../shared/eval/score.py, re-cluster the same tracks on the
generic model's embeddings (`vcn cluster`), score again, and print face-level BCubed F,
WCP and NMI for both, with the adaptation's wall time.

    python bench/bench_adaptation.py [CLIP_DIR ...] [--keep-home DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench_pipeline import REPO, SHARED, VCN, run_clip, score, title_row, vcn_env, warm_model_cache


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--keep-home", type=Path)
    args = parser.parse_args()
    cache = REPO / "bench" / "out" / "models"
    warm_model_cache(cache)
    clips = args.clips or sorted(p for p in (SHARED / "data" / "clips").iterdir() if (p / "faces.csv").exists())
    scores = f"{'bcF':>6} {'WCP':>6} {'NMI':>6} {'k':>4}"
    print(f"{'clip':10} {'adapt_s':>7} | generic: {scores} | adapted: {scores}")
    for clip in clips:
        with tempfile.TemporaryDirectory() as tmp:
            home = args.keep_home / clip.name if args.keep_home else Path(tmp)
            title, _ = run_clip(clip, home, 1, cache, adapt=True)
            adapted = score(clip, home, cache, title)["clustering"]
            info = title_row(home, title)
            subprocess.run([*VCN, "cluster", title], env=vcn_env(home, cache), check=True)
            base = score(clip, home, cache, title)["clustering"]
        seconds = (info["adapted_model_s"] or 0) + (info["adapted_embeddings_s"] or 0)
        cells = [
            f"{s['bcubed_f']:6.3f} {s['wcp']:6.3f} {s['nmi']:6.3f} {s['n_clusters_pred_excl_unclustered']:4d}"
            for s in (base, adapted)
        ]
        print(f"{clip.name:10} {seconds:7.1f} | generic: {cells[0]} | adapted: {cells[1]}")


if __name__ == "__main__":
    main()
