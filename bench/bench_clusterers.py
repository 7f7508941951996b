"""Clusterers x face models on the evaluation clips: one table, and the adaptation ablation.

For each clip folder with a faces.csv (default: every one in ../shared/data/clips), run `vcn run --adapt`
in a fresh home (or reuse one made earlier with `--keep-home`), then re-cluster the same tracks with every
clusterer at its default settings (`vcn cluster`), on the generic and on the adapted model's embeddings,
and score each with ../shared/eval/score.py: face-level BCubed F, WCP, NMI and predicted/true clusters
(faces set aside count as singletons, as the scorer counts them). Also prints the adaptation's wall time.

    python bench/bench_clusterers.py [CLIP_DIR ...] [--keep-home DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import subprocess

from bench_pipeline import VCN, clip_home, clips_from_command_line, run_clip, score, title_of, title_row, vcn_env

from videoclusternet.clustering import CLUSTERERS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", action="store_true", help="reuse homes under --keep-home instead of running")
    clips, args, cache = clips_from_command_line(parser)
    scores = f"{'bcF':>6} {'WCP':>6} {'NMI':>6} {'pred/true':>9}"
    print(f"{'clip':10} {'adapt_s':>7} {'clusterer':16} | generic: {scores} | adapted: {scores}")
    for clip in clips:
        with clip_home(clip, args.keep_home) as home:
            title = title_of(clip)
            if not args.reuse:
                run_clip(clip, home, 1, cache, adapt=True)
            info = title_row(home, title)
            seconds = (info["adapted_model_s"] or 0) + (info["adapted_embeddings_s"] or 0)
            for clusterer in CLUSTERERS:
                cells = []
                for adapted in (False, True):
                    extra = ["--adapt"] if adapted else []
                    subprocess.run(
                        [*VCN, "cluster", title, "--clusterer", clusterer, *extra],
                        env=vcn_env(home, cache),
                        check=True,
                        capture_output=True,
                    )
                    s = score(clip, home, cache, title)["clustering"]
                    ratio = f"{s['n_clusters_pred']}/{s['n_identities_true']}"
                    cells.append(f"{s['bcubed_f']:6.3f} {s['wcp']:6.3f} {s['nmi']:6.3f} {ratio:>9}")
                print(f"{clip.name:10} {seconds:7.1f} {clusterer:16} | generic: {cells[0]} | adapted: {cells[1]}")


if __name__ == "__main__":
    main()
