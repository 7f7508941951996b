"""Shot detection on real clips: our detector and PySceneDetect's AdaptiveDetector, side by side.

Usage: python bench/bench_shots.py [CLIP_DIR ...]   (default: every dir in ../shared/data/clips)

Each CLIP_DIR holds video.mp4 and faces.csv (columns frame_idx, track_id, shot, ...). The truth cuts
are where the GT shot label changes between consecutive annotated frames (the cut lies after the
first of them, up to the second); a detected cut is the first frame of a new shot. Per detector:
  * cut precision / recall / F: a detected cut within TOLERANCE frames of a truth cut matches it
    (one detection per truth cut); a detection that matches none is false, unless it lies before the
    first or after the last annotated frame, where the truth says nothing;
  * cuts inside a GT track: consecutive rows of one GT track with a detected cut between them;
  * ms per frame of the detector alone (decoding, shared by both, is timed apart).
Both detectors run with their default settings on the same decoded frames; PySceneDetect gets them
downscaled as its SceneManager would (to a width of at least 256, bilinear). Shots without faces
are invisible to the truth. Needs `pip install scenedetect` for the second column.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videoclusternet.shots import ShotDetector, shot_of_frames  # noqa: E402
from videoclusternet.types import Shot  # noqa: E402
from videoclusternet.video import iter_frames, probe_video  # noqa: E402

TOLERANCE = 1  # frames a detected cut may sit from the truth cut


class SceneDetectShots:
    """PySceneDetect's AdaptiveDetector (defaults) behind ShotDetector's update / finish interface."""

    name = "pyscenedetect"

    def __init__(self, fps: float) -> None:
        from scenedetect import AdaptiveDetector, FrameTimecode
        from scenedetect.scene_manager import compute_downscale_factor

        self._fps = fps
        self._detector = AdaptiveDetector()
        self._timecode, self._downscale_factor = FrameTimecode, compute_downscale_factor
        self._scale: float | None = None
        self._cuts: list[int] = []
        self._last = None

    def update(self, frame_idx: int, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self._scale is None:
            self._scale = self._downscale_factor(max(w, h))
        if self._scale > 1.0:
            size = (max(1, round(w / self._scale)), max(1, round(h / self._scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        self._last = self._timecode(frame_idx, fps=self._fps)
        self._cuts += [cut.frame_num for cut in self._detector.process_frame(self._last, image)]

    def finish(self, frame_count: int, fps: float) -> list[Shot]:
        if self._last is not None:
            self._cuts += [cut.frame_num for cut in self._detector.post_process(self._last)]
        starts = sorted({0, *(c for c in self._cuts if 0 < c < frame_count)}) if frame_count > 0 else []
        ends = [*(s - 1 for s in starts[1:]), frame_count - 1]
        return [Shot(k, a, b, a / fps, (b + 1) / fps) for k, (a, b) in enumerate(zip(starts, ends, strict=True))]


@dataclass
class Truth:
    shot_at: dict[int, str]  # annotated frame -> GT shot label
    track_frames: dict[str, list[int]]
    cuts: list[tuple[int, int]] = field(default_factory=list)  # (first, last) frame a truth cut may start at


def _load_gt(csv_path: Path) -> Truth:
    shot_at: dict[int, str] = {}
    track_frames: dict[str, list[int]] = defaultdict(list)
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            fi = int(row["frame_idx"])
            shot_at[fi] = row["shot"]
            track_frames[row["track_id"]].append(fi)
    frames = sorted(shot_at)
    cuts = [(a + 1, b) for a, b in zip(frames[:-1], frames[1:], strict=True) if shot_at[a] != shot_at[b]]
    return Truth(shot_at, track_frames, cuts)


@dataclass
class Score:
    name: str
    shots: int
    ms_per_frame: float
    tp: int
    fp: int
    fn: int
    in_track: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_cuts(name: str, shots: list[Shot], truth: Truth, seconds: float, n_frames: int) -> Score:
    detected = [s.start_frame for s in shots[1:]]
    first, last = min(truth.shot_at), max(truth.shot_at)
    matched: set[int] = set()
    fp = 0
    for c in detected:
        hit = next(
            (k for k, (a, b) in enumerate(truth.cuts) if k not in matched and a - TOLERANCE <= c <= b + TOLERANCE),
            None,
        )
        if hit is not None:
            matched.add(hit)
        elif first < c <= last:
            fp += 1
    frames = np.asarray(sorted(truth.shot_at), np.int64)
    sid = dict(zip(frames.tolist(), shot_of_frames(shots, frames).tolist(), strict=True))
    in_track = 0
    for fs in truth.track_frames.values():
        u = sorted(set(fs))
        in_track += sum(sid[a] != sid[b] for a, b in zip(u[:-1], u[1:], strict=True))
    tp = len(matched)
    return Score(name, len(shots), 1000 * seconds / n_frames, tp, fp, len(truth.cuts) - tp, in_track)


def bench_clip(clip_dir: Path) -> list[Score]:
    video = clip_dir / "video.mp4"
    info = probe_video(video)
    detectors: dict[str, object] = {"ours": ShotDetector()}
    try:
        detectors["pyscenedetect"] = SceneDetectShots(info.fps)
    except ImportError:
        print("  (scenedetect is not installed: pip install scenedetect)")
    spent = dict.fromkeys(detectors, 0.0)
    n = 0
    t_all = time.perf_counter()
    for idx, _ts, frame in iter_frames(video):
        for name, det in detectors.items():
            t = time.perf_counter()
            det.update(idx, frame)
            spent[name] += time.perf_counter() - t
        n += 1
    shots = {}
    for name, det in detectors.items():
        t = time.perf_counter()
        shots[name] = det.finish(info.frame_count, info.fps)
        spent[name] += time.perf_counter() - t
    decode = time.perf_counter() - t_all - sum(spent.values())

    print(
        f"{clip_dir.name}: {info.codec} {info.width}x{info.height} @ {info.fps:.3f} fps, "
        f"{n} frames decoded ({info.frame_count} announced); decode {1000 * decode / n:.2f} ms/frame"
    )
    gt_csv = clip_dir / "faces.csv"
    if not gt_csv.exists():
        for name in detectors:
            print(f"  {name:14s} {len(shots[name])} shots, {1000 * spent[name] / n:.2f} ms/frame")
        return []
    truth = _load_gt(gt_csv)
    scores = [score_cuts(name, shots[name], truth, spent[name], n) for name in detectors]
    print(f"  truth cuts: {len(truth.cuts)} (GT shots with faces: {len(set(truth.shot_at.values()))})")
    _table(scores)
    truth_starts = [a if a == b else (a, b) for a, b in truth.cuts]
    print(f"  truth cuts at: {truth_starts}")
    for name in detectors:
        print(f"  {name} cuts at: {[s.start_frame for s in shots[name][1:]]}")
    return scores


def _table(scores: list[Score]) -> None:
    print(
        f"  {'detector':14s} {'shots':>5s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'P':>6s} {'R':>6s} {'F':>6s} "
        f"{'in-track':>8s} {'ms/frame':>8s}"
    )
    for s in scores:
        print(
            f"  {s.name:14s} {s.shots:5d} {s.tp:4d} {s.fp:4d} {s.fn:4d} {s.precision:6.3f} {s.recall:6.3f} "
            f"{s.f:6.3f} {s.in_track:8d} {s.ms_per_frame:8.2f}"
        )


def main(argv: list[str]) -> None:
    if argv:
        dirs = [Path(a) for a in argv]
    else:
        root = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
        dirs = sorted(p for p in root.iterdir() if p.is_dir())
    totals: dict[str, list[Score]] = defaultdict(list)
    for d in dirs:
        for s in bench_clip(d):
            totals[s.name].append(s)
    if len(dirs) > 1 and totals:
        print(f"all clips (cut tolerance {TOLERANCE} frame):")
        _table(
            [
                Score(
                    name,
                    sum(s.shots for s in ss),
                    float(np.mean([s.ms_per_frame for s in ss])),  # mean over clips
                    sum(s.tp for s in ss),
                    sum(s.fp for s in ss),
                    sum(s.fn for s in ss),
                    sum(s.in_track for s in ss),
                )
                for name, ss in totals.items()
            ]
        )


if __name__ == "__main__":
    main(sys.argv[1:])
