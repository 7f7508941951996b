"""End-to-end benchmark and quality check on the evaluation clips, without adaptation (`vcn run`).

For each clip folder (default: every folder of ../shared/data/clips that holds video.mp4 and faces.csv),
run `vcn run` in a fresh home, `vcn export`, score it with ../shared/eval/score.py, and print per-stage
wall time, video-seconds per wall-second (over the stages, and over the whole `vcn run` process with its
start-up, Dagster bookkeeping and summary), detection recall and face-level BCubed F / WCP / NMI;
then all clips in one `vcn run`, where the fixed start-up is paid once.
Models are folded once into bench/out/models before timing (a one-time set-up cost).

    python bench/bench_pipeline.py [CLIP_DIR ...] [--stride N] [--keep-home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
STAGES = ["frames", "face_detections", "face_tracks", "face_embeddings", "face_clusters"]
VCN = [sys.executable, "-m", "vcn_dagster.cli"]


def warm_model_cache(cache: Path) -> None:
    """Fold the models once before timing: a one-time set-up cost, not a per-title one."""
    sys.path.insert(0, str(REPO))
    from videoclusternet.models import load_detector, load_embedder

    load_detector(cache_dir=cache)
    load_embedder(cache_dir=cache)


def clips_from_command_line(parser: argparse.ArgumentParser) -> tuple[list[Path], argparse.Namespace, Path]:
    """The clips (default: every folder of ../shared/data/clips with a faces.csv), the parsed options (the
    parser's own, plus --keep-home) and the model cache, folded before any timing."""
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--keep-home", type=Path, help="keep each clip's home under DIR/<clip>")
    args = parser.parse_args()
    cache = REPO / "bench" / "out" / "models"
    warm_model_cache(cache)
    clips = args.clips or sorted(p for p in (SHARED / "data" / "clips").iterdir() if (p / "faces.csv").exists())
    return clips, args, cache


@contextmanager
def clip_home(clip: Path, keep_home: Path | None) -> Iterator[Path]:
    """The clip's home: DIR/<clip> with --keep-home DIR, else a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        yield keep_home / clip.name if keep_home else Path(tmp)


def title_of(clip: Path) -> str:
    return clip.name.replace("-", "_").lower()


def resident_mb(pid: int) -> float:
    """The process's resident memory (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def vcn_env(home: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "VCN_HOME": str(home), "VCN_MODEL_CACHE": str(cache)}


def run_clip(
    clip: Path, home: Path, stride: int, cache: Path, adapt: bool = False, video: str = "video.mp4"
) -> tuple[str, float]:
    """`vcn run` on the clip's `video` in `home`; returns the title and the process's wall seconds."""
    title = title_of(clip)
    started = time.perf_counter()
    args = [*VCN, "run", str(clip / video), "--title", title, "--stride", str(stride)]
    subprocess.run(args + (["--adapt"] if adapt else []), env=vcn_env(home, cache), check=True, capture_output=True)
    return title, time.perf_counter() - started


def run_together(clips: list[Path], stride: int, cache: Path) -> tuple[float, float]:
    """One `vcn run` over all the clips, as a user processing a batch would: (video seconds, process wall
    seconds). The fixed start-up (imports, the Dagster instance) is paid once, not per title."""
    sys.path.insert(0, str(REPO))
    from videoclusternet.video import probe_video

    with tempfile.TemporaryDirectory() as tmp:
        videos = []
        for clip in clips:
            videos.append(Path(tmp) / f"{clip.name}.mp4")
            videos[-1].symlink_to(clip / "video.mp4")
        started = time.perf_counter()
        args = [*VCN, "run", *map(str, videos), "--stride", str(stride)]
        subprocess.run(args, env=vcn_env(Path(tmp) / "home", cache), check=True, capture_output=True)
        wall = time.perf_counter() - started
    return sum(probe_video(str(c / "video.mp4")).duration_s for c in clips), wall


def score(clip: Path, home: Path, cache: Path, title: str) -> dict:
    """`vcn export` scored by the referee, ../shared/eval/score.py."""
    pred = home / f"{title}.csv"
    subprocess.run(
        [*VCN, "export", title, "--out", str(pred)], env=vcn_env(home, cache), check=True, capture_output=True
    )
    scored = subprocess.run(
        [sys.executable, str(SHARED / "eval" / "score.py"), str(clip / "faces.csv"), str(pred)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(scored.stdout)


def title_row(home: Path, title: str) -> dict:
    sys.path.insert(0, str(REPO))
    from vcn_resources.warehouse import Warehouse

    con = Warehouse(home).connect()
    row = con.execute("SELECT * FROM titles WHERE title = ?", [title]).fetchone()
    return dict(zip([d[0] for d in con.description], row))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stride", type=int, default=1)
    clips, args, cache = clips_from_command_line(parser)
    print(
        f"{'clip':10} {'video_s':>7} "
        + " ".join(f"{s[:12]:>12}" for s in STAGES)
        + f" {'stages_s':>8} {'vs/ws':>6} {'process_s':>9} {'vs/ws':>6}"
        + f" {'recall':>6} {'bcF':>6} {'WCP':>6} {'NMI':>6} {'pred/true':>9}"
    )
    for clip in clips:
        with clip_home(clip, args.keep_home) as home:
            title, process_s = run_clip(clip, home, args.stride, cache)
            s, info = score(clip, home, cache, title), title_row(home, title)
        times = [info.get(f"{st}_s") or 0.0 for st in STAGES]
        total = sum(times)
        face = s["clustering"]
        print(
            f"{clip.name:10} {info['duration_s']:7.1f} "
            + " ".join(f"{t:12.2f}" for t in times)
            + f" {total:8.1f} {info['duration_s'] / total:6.2f}"
            + f" {process_s:9.1f} {info['duration_s'] / process_s:6.2f} {s['detection']['recall']:6.3f}"
            + f" {face['bcubed_f']:6.3f} {face['wcp']:6.3f} {face['nmi']:6.3f}"
            + f" {face['n_clusters_pred']:>4}/{face['n_identities_true']:<4}"
        )
    if len(clips) > 1:
        video_s, wall = run_together(clips, args.stride, cache)
        print(f"all clips in one `vcn run`: {video_s:.1f} video-s in {wall:.1f} s = {video_s / wall:.2f} vs/ws")


if __name__ == "__main__":
    main()
