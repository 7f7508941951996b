"""Speed against the usual recipe, real-time factors, and how fast the interactive commands answer (issue 18).

1. Per clip (default: every folder of ../shared/data/clips with a video.mp4), one paired round that alternates
   peer, vcn, vcn, peer: the peer is ../shared/eval/peer_sface_finch.py (YuNet + SFace on every face of every
   frame, then FINCH), vcn is `vcn run` as a whole process in a fresh home. Both fold their models beforehand.
   Alternating cancels this noisy machine's drift: the ratio holds where absolute figures do not.
2. vcn's video-seconds per wall-second, per stage (from the `titles` table) and for the whole process.
3. `vcn --help`, `vcn titles`, `vcn sql`, `vcn export` and an error message, each the median of three calls, on a
   home with `--titles` titles (composed clips of two seconds).

The last line says whether the targets are met: at least 4 video-s per wall-s on friends and 3 on the other
clips, 5 times less wall time than the peer, every command under 1.5 s. The peer needs `finch-clust`
(`pip install -e .[bench]`).

    python bench/bench_speed.py [CLIP_DIR ...] [--titles 20] [--skip-peer] [--skip-cli]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import REPO, SHARED, STAGES, VCN, run_clip, title_row, vcn_env, warm_model_cache

PEER = SHARED / "eval" / "peer_sface_finch.py"
TARGET_RT = {"friends": 4.0}  # video-s per wall-s; other clips: TARGET_RT_OTHER
TARGET_RT_OTHER = 3.0
TARGET_PEER_RATIO = 5.0
TARGET_CLI_S = 1.5


def run_peer(video: Path, out: Path, cache: Path) -> float:
    started = time.perf_counter()
    args = [sys.executable, str(PEER), str(video), "--out-prefix", str(out / "peer"), "--cache-dir", str(cache)]
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def warm_peer_models(cache: Path) -> None:
    """The peer folds its models on first use: done once here, before any timing."""
    sys.path.insert(0, str(PEER.parent))
    from peer_sface_finch import prepare_models

    prepare_models(str(cache))


def paired(clip: Path, cache: Path, peer_cache: Path, with_peer: bool) -> dict:
    """peer, vcn, vcn, peer on one clip: mean wall seconds of each, and vcn's stage seconds (its first run)."""
    walls: dict[str, list[float]] = {"peer": [], "vcn": []}
    stages: dict[str, float] = {}
    order = ["peer", "vcn", "vcn", "peer"] if with_peer else ["vcn", "vcn"]
    for who in order:
        with tempfile.TemporaryDirectory() as tmp:
            if who == "peer":
                walls["peer"].append(run_peer(clip / "video.mp4", Path(tmp), peer_cache))
                continue
            title, wall = run_clip(clip, Path(tmp), 1, cache)
            walls["vcn"].append(wall)
            row = title_row(Path(tmp), title)
            stages = stages or {s: row.get(f"{s}_s") or 0.0 for s in STAGES} | {"video_s": row["duration_s"]}
    peer = statistics.mean(walls["peer"]) if walls["peer"] else None
    return {"peer": peer, "vcn": statistics.mean(walls["vcn"]), **stages}


def home_with_titles(home: Path, cache: Path, titles: int) -> str:
    """A home holding `titles` processed titles (composed two-second clips, one `vcn run`); returns one key."""
    sys.path.insert(0, str(REPO))
    from videoclusternet.synthetic import compose_clip

    videos = []
    for i in range(titles):
        videos.append(home.parent / "videos" / f"bench.s01e{i + 1:02d}.mp4")
        compose_clip(videos[-1], seed=i, fps=10, script=((1.2, ("person_0", "tom_hanks")), (1.2, ("person_1",))))
    subprocess.run([*VCN, "run", *map(str, videos)], env=vcn_env(home, cache), check=True, capture_output=True)
    return "bench.s01e01"


def command_seconds(home: Path, cache: Path, key: str) -> dict[str, float]:
    """Median wall seconds of three calls of each interactive command."""
    commands = {
        "vcn --help": ["--help"],
        "vcn titles": ["titles"],
        "vcn sql": ["sql", "SELECT title, count(*) FROM detections GROUP BY title"],
        "vcn export": ["export", key, "--out", str(home.parent / "export.csv")],
        "an error (unknown title)": ["export", "nosuch.s01e01"],
    }
    seconds = {}
    for name, args in commands.items():
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([*VCN, *args], env=vcn_env(home, cache), capture_output=True)
            walls.append(time.perf_counter() - started)
        seconds[name] = statistics.median(walls)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--titles", type=int, default=20, help="titles in the home the commands are timed on")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    cache, peer_cache = REPO / "bench" / "out" / "models", REPO / "bench" / "out" / "peer_models"
    warm_model_cache(cache)
    if not args.skip_peer:
        warm_peer_models(peer_cache)
    clips = args.clips or sorted(p for p in (SHARED / "data" / "clips").iterdir() if (p / "video.mp4").exists())

    verdicts = []
    print(f"{'clip':10} {'video_s':>7} {'peer_s':>7} {'vcn_s':>7} {'ratio':>6} {'vs/ws':>6} | vs/ws per stage")
    for clip in clips:
        got = paired(clip, cache, peer_cache, not args.skip_peer)
        video_s = got["video_s"]
        rt = video_s / got["vcn"]
        ratio = got["peer"] / got["vcn"] if got["peer"] else None
        per_stage = " ".join(f"{s} {video_s / got[s]:.1f}" for s in STAGES if got[s])
        peer_s = f"{got['peer']:7.1f}" if got["peer"] else f"{'-':>7}"
        ratio_s = f"{ratio:6.2f}" if ratio else f"{'-':>6}"
        print(f"{clip.name:10} {video_s:7.1f} {peer_s} {got['vcn']:7.1f} {ratio_s} {rt:6.2f} | {per_stage}", flush=True)
        target = TARGET_RT.get(clip.name, TARGET_RT_OTHER)
        verdicts.append(f"{clip.name} {rt:.2f}x real time (target {target:g}: {'met' if rt >= target else 'MISSED'})")
        if ratio:
            met = "met" if ratio >= TARGET_PEER_RATIO else "MISSED"
            verdicts.append(f"{clip.name} {ratio:.2f}x the peer (target {TARGET_PEER_RATIO:g}: {met})")

    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            key = home_with_titles(home, cache, args.titles)
            seconds = command_seconds(home, cache, key)
        for name, s in seconds.items():
            print(f"{name:26} {s:5.2f} s (median of 3, {args.titles} titles)")
        slowest = max(seconds, key=seconds.get)
        met = "met" if seconds[slowest] < TARGET_CLI_S else "MISSED"
        verdicts.append(f"slowest command {slowest} {seconds[slowest]:.2f} s (target < {TARGET_CLI_S:g} s: {met})")
    print("; ".join(verdicts))


if __name__ == "__main__":
    main()
