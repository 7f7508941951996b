"""An episode-length title: a clip looped N times (with its ground truth), through `vcn run` like any title.

Answers what the short clips cannot: wall time per stage and peak memory at the length users process
(a 130 s clip looped 10 times is a 22 min episode), and whether clustering holds when each person's
tracks are ten times as many. The looped video is written once into bench/out, losslessly (FFV1 in .mkv,
about 110 kB a 640x360 frame): a lossy re-encode alone costs friends 0.11 BCubed F (mp4v, 38 dB PSNR).

    python bench/bench_episode.py [CLIP_DIR] [--loop N] [--stride N]
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO, SHARED, STAGES, run_clip, score, title_row, warm_model_cache  # noqa: E402


def loop_clip(clip: Path, times: int, out: Path) -> Path:
    """`out`/video.mkv and `out`/faces.csv: the clip and its truth, `times` times in a row."""
    out.mkdir(parents=True, exist_ok=True)
    reader = cv2.VideoCapture(str(clip / "video.mp4"))
    fps = reader.get(cv2.CAP_PROP_FPS)
    width, height = int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)), int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT))
    reader.release()
    video = out / "video.mkv"
    if not video.exists():
        writer = cv2.VideoWriter(str(video) + ".tmp.mkv", cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height))
        for _ in range(times):
            reader = cv2.VideoCapture(str(clip / "video.mp4"))
            while (frame := reader.read()[1]) is not None:
                writer.write(frame)
            reader.release()
        writer.release()
        Path(str(video) + ".tmp.mkv").rename(video)
    reader = cv2.VideoCapture(str(video))
    frames = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) // times
    reader.release()
    with open(clip / "faces.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(out / "faces.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["frame_idx", "x1", "y1", "x2", "y2", "identity"], extrasaction="ignore")
        writer.writeheader()
        for k in range(times):
            writer.writerows({**r, "frame_idx": int(r["frame_idx"]) + k * frames} for r in rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", nargs="?", type=Path, default=SHARED / "data" / "clips" / "friends")
    parser.add_argument("--loop", type=int, default=10)
    parser.add_argument("--stride", type=int, default=1)
    args = parser.parse_args()
    cache = REPO / "bench" / "out" / "models"
    warm_model_cache(cache)
    episode = loop_clip(args.clip, args.loop, REPO / "bench" / "out" / f"{args.clip.name}_x{args.loop}")
    home = episode / "home"
    shutil.rmtree(home, ignore_errors=True)  # a fresh home: every stage runs
    title, process_s = run_clip(episode, home, args.stride, cache, video="video.mkv")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    info, scored = title_row(home, title), score(episode, home, cache, title)
    detection, face = scored["detection"], scored["clustering"]
    print(f"{args.clip.name} x{args.loop}: {info['duration_s']:.0f} s of video, {info['frame_count']} frames")
    for stage in STAGES:
        print(f"  {stage:16} {info[f'{stage}_s'] or 0:8.1f} s")
    print(f"  vcn run          {process_s:8.1f} s = {info['duration_s'] / process_s:.2f} video-s per wall-s")
    print(f"  peak memory      {peak_mb:8.0f} MB (largest process)")
    print(
        f"  detection recall {detection['recall']:.3f}  BCubed F {face['bcubed_f']:.3f}  WCP {face['wcp']:.3f}"
        f"  clusters {face['n_clusters_pred']}/{face['n_identities_true']}"
    )


if __name__ == "__main__":
    main()
