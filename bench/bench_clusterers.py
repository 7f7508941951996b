"""Clusterers x face models on the evaluation clips: one table, and the adaptation ablation.

For each clip folder with a faces.csv (default: every one in ../shared/data/clips), run `vcn run --adapt`
in a fresh home (or reuse one made earlier with `--keep-home`), then re-cluster the same tracks with every
clusterer at its default settings (`vcn cluster`), on the generic and on the adapted model's embeddings,
and score each with ../shared/eval/score.py: face-level BCubed F, WCP, NMI and predicted/true clusters
(faces set aside count as singletons, as the scorer counts them). Also prints the adaptation's wall time.

Then the season level: the clip cut into `--episodes` parts as `bench_season.py` cuts it, one `vcn run` over
them, each episode clustered again with every clusterer (`vcn cluster`; the season's persons follow the
episodes' clusterer), and the season's person ids scored over all episodes as one item set, with the most
persons one true person is split into (3+ tracks). The season links on the generic model's embeddings
(an episode's adapted model is its own), so it has no adapted column.

    python bench/bench_clusterers.py [CLIP_DIR ...] [--keep-home DIR] [--reuse] [--episodes 3 (0: none)]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench_pipeline import REPO, VCN, clip_home, clips_from_command_line, run_clip, score, title_of, title_row, vcn_env
from bench_season import cut_clip, season_scores

from videoclusternet.clustering import CLUSTERERS
from videoclusternet.titles import season_of, title_key_from_filename


def season_level(clip: Path, episodes: int, cache: Path) -> None:
    """Every clusterer on the season made of the clip cut into `episodes` parts."""
    videos = cut_clip(clip, episodes, REPO / "bench" / "out" / "seasons" / clip.name)
    titles = [title_key_from_filename(v) for v in videos]
    season = season_of(titles[0])
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        subprocess.run([*VCN, "run", *map(str, videos)], env=vcn_env(home, cache), check=True, capture_output=True)
        for clusterer in CLUSTERERS:
            for title in titles:
                cluster = [*VCN, "cluster", title, "--clusterer", clusterer]
                subprocess.run(cluster, env=vcn_env(home, cache), check=True, capture_output=True)
            figures, spread = season_scores(videos, home, cache, Path(tmp), season)
            s = figures["clustering"]
            worst = max(spread["split"].values(), default=0)
            cells = (
                f"{s['bcubed_f']:6.3f} {s['wcp']:6.3f} {s['nmi']:6.3f} {spread['persons']:>4}/{s['n_identities_true']}"
            )
            print(f"{clip.name:10} {'season':>7} {clusterer:16} | generic: {cells}  most persons per true: {worst}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", action="store_true", help="reuse homes under --keep-home instead of running")
    parser.add_argument(
        "--episodes", type=int, default=3, help="episodes the season level cuts each clip into (0: no season level)"
    )
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
                    extra = ["--adapt"] if adapted else ["--no-adapt"]  # default: what the last clustering used
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
    if not args.episodes:
        return
    print("season level: persons / true, and the most persons (3+ tracks) one true person is split into")
    for clip in clips:
        season_level(clip, args.episodes, cache)


if __name__ == "__main__":
    main()
