"""Shot detection on real clips: speed and agreement with the ground-truth faces.csv.

Usage: python bench/bench_shots.py [CLIP_DIR ...]   (default: every dir in ../shared/data/clips)

Each CLIP_DIR holds video.mp4 and faces.csv (columns frame_idx, track_id, shot, ...). We count
  * violations: consecutive rows of one GT track with a detected cut between them;
  * missed cuts: consecutive annotated frames with different GT shot labels and no detected cut
    between them.
Both should be 0. Shots without faces are invisible to this check.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videoclusternet.shots import ShotDetector, shot_of_frames  # noqa: E402
from videoclusternet.video import iter_frames, probe_video  # noqa: E402


def _load_gt(csv_path: Path) -> tuple[dict[int, set[str]], dict[str, list[int]]]:
    shots_at: dict[int, set[str]] = defaultdict(set)
    track_frames: dict[str, list[int]] = defaultdict(list)
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            fi = int(row["frame_idx"])
            shots_at[fi].add(row["shot"])
            track_frames[row["track_id"]].append(fi)
    return shots_at, track_frames


def bench_clip(clip_dir: Path) -> None:
    video = clip_dir / "video.mp4"
    info = probe_video(video)
    t0 = time.perf_counter()
    det = ShotDetector()
    n = 0
    for idx, _ts, frame in iter_frames(video):
        det.update(idx, frame)
        n += 1
    shots = det.finish(info.frame_count, info.fps)
    wall = time.perf_counter() - t0

    t1 = time.perf_counter()
    for _ in iter_frames(video):
        pass
    decode_wall = time.perf_counter() - t1

    print(
        f"{clip_dir.name}: {info.codec} {info.width}x{info.height} @ {info.fps:.3f} fps, "
        f"{n} frames decoded ({info.frame_count} announced)"
    )
    print(f"  shots found: {len(shots)}")
    print(
        f"  decode+detect: {1000 * wall / n:.2f} ms/frame, "
        f"{n / info.fps / wall:.1f} video-s per wall-s; "
        f"decode only: {1000 * decode_wall / n:.2f} ms/frame "
        f"({n / info.fps / decode_wall:.1f} video-s per wall-s)"
    )

    gt_csv = clip_dir / "faces.csv"
    if not gt_csv.exists():
        return
    shots_at, track_frames = _load_gt(gt_csv)
    frames = np.asarray(sorted(shots_at), np.int64)
    sid = dict(zip(frames.tolist(), shot_of_frames(shots, frames).tolist(), strict=True))
    gt_labels = {s for v in shots_at.values() for s in v}
    missed = [
        (a, b)
        for a, b in zip(frames[:-1].tolist(), frames[1:].tolist(), strict=True)
        if shots_at[a] != shots_at[b] and sid[a] == sid[b]
    ]
    violations = []
    for track, fs in track_frames.items():
        u = sorted(set(fs))
        violations += [(track, a, b) for a, b in zip(u[:-1], u[1:], strict=True) if sid[a] != sid[b]]
    print(
        f"  GT shots (with faces): {len(gt_labels)}; cuts inside a GT track: "
        f"{len(violations)}; missed GT cuts: {len(missed)}"
    )
    for v in violations[:10]:
        print(f"    violation: track {v[0]} frames {v[1]}->{v[2]}")
    for m in missed[:10]:
        print(f"    missed: between frames {m[0]} and {m[1]}")
    print("  cuts at:", [s.start_frame for s in shots[1:]])


def main(argv: list[str]) -> None:
    if argv:
        dirs = [Path(a) for a in argv]
    else:
        root = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
        dirs = sorted(p for p in root.iterdir() if p.is_dir())
    for d in dirs:
        bench_clip(d)


if __name__ == "__main__":
    main(sys.argv[1:])
