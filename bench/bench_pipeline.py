"""End-to-end benchmark and quality check on the evaluation clips.

For each clip folder (default: every folder of ../shared/data/clips that holds video.mp4 and faces.csv),
run `vcn run` in a fresh home, `vcn export`, score it with ../shared/eval/score.py, and print per-stage
wall time, video-seconds per wall-second (over the stages, and over the whole `vcn run` process with its
start-up, Dagster bookkeeping and summary), detection recall and face-level BCubed F / WCP / NMI.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
STAGES = ["frames", "face_detections", "face_tracks", "face_embeddings", "face_clusters"]


def warm_model_cache(cache: Path) -> None:
    """Fold the models once before timing: a one-time set-up cost, not a per-title one."""
    sys.path.insert(0, str(REPO))
    from videoclusternet.models import load_detector, load_embedder

    load_detector(cache_dir=cache)
    load_embedder(cache_dir=cache)


def run_clip(clip: Path, home: Path, stride: int, cache: Path) -> dict:
    env = {**os.environ, "VCN_HOME": str(home), "VCN_MODEL_CACHE": str(cache)}
    vcn = [sys.executable, "-m", "vcn_dagster.cli"]
    title = clip.name.replace("-", "_").lower()
    started = time.perf_counter()
    subprocess.run(
        [*vcn, "run", str(clip / "video.mp4"), "--title", title, "--stride", str(stride)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    process_s = time.perf_counter() - started
    pred = home / f"{title}.csv"
    subprocess.run([*vcn, "export", title, "--out", str(pred)], env=env, check=True, capture_output=True)
    scored = subprocess.run(
        [sys.executable, str(SHARED / "eval" / "score.py"), str(clip / "faces.csv"), str(pred)],
        check=True,
        capture_output=True,
        text=True,
    )
    sys.path.insert(0, str(REPO))
    from resources import WarehouseResource

    con = WarehouseResource(home=str(home)).connect()
    row = con.execute("SELECT * FROM titles WHERE title = ?", [title]).fetchone()
    info = dict(zip([d[0] for d in con.description], row))
    return {"title": title, "info": info, "process_s": process_s, "scores": json.loads(scored.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--keep-home", type=Path)
    args = parser.parse_args()
    cache = REPO / "bench" / "out" / "models"
    warm_model_cache(cache)
    clips = args.clips or sorted(p for p in (SHARED / "data" / "clips").iterdir() if (p / "faces.csv").exists())
    print(
        f"{'clip':10} {'video_s':>7} "
        + " ".join(f"{s[:12]:>12}" for s in STAGES)
        + f" {'stages_s':>8} {'vs/ws':>6} {'process_s':>9} {'vs/ws':>6}"
        + f" {'recall':>6} {'bcF':>6} {'WCP':>6} {'NMI':>6} {'pred/true':>9}"
    )
    for clip in clips:
        with tempfile.TemporaryDirectory() as tmp:
            home = args.keep_home / clip.name if args.keep_home else Path(tmp)
            out = run_clip(clip, home, args.stride, cache)
        info, s = out["info"], out["scores"]
        times = [info.get(f"{st}_s") or 0.0 for st in STAGES]
        total = sum(times)
        face = s["clustering"]
        print(
            f"{clip.name:10} {info['duration_s']:7.1f} "
            + " ".join(f"{t:12.2f}" for t in times)
            + f" {total:8.1f} {info['duration_s'] / total:6.2f}"
            + f" {out['process_s']:9.1f} {info['duration_s'] / out['process_s']:6.2f} {s['detection']['recall']:6.3f}"
            + f" {face['bcubed_f']:6.3f} {face['wcp']:6.3f} {face['nmi']:6.3f}"
            + f" {face['n_clusters_pred']:>4}/{face['n_identities_true']:<4}"
        )


if __name__ == "__main__":
    main()
