"""A season made from a clip: the clip cut into episodes, each run as a title, their identities linked into the
season's persons, and both scored by the referee (../shared/eval/score.py).

Each clip (a folder with video.mp4 and faces.csv; default: every clip of ../shared/data/clips) is cut at
the shot boundaries nearest to 1/N, 2/N, ... of its length (episodes never split a shot), losslessly (FFV1
in .mkv: frames stay exact), with each part's truth beside it (`<clip>.S01E0k.faces.csv`). One `vcn run`
over the parts links the season at its end. Printed per episode: BCubed F and WCP of its clusters; for the
season: BCubed F and WCP of the person ids over all episodes as one item set (frames of each episode after
those before it), persons found / true, and the most season persons one true person is split into among
persons with 3 or more tracks. `--whole` also runs the uncut clip as one title, for comparison.

    python bench/bench_season.py [CLIP_DIR ...] [--episodes 3] [--whole]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO, SHARED, VCN, clips_from_command_line, run_clip, score, vcn_env  # noqa: E402

TRUTH_COLUMNS = ["frame_idx", "x1", "y1", "x2", "y2", "identity"]


def cut_points(video: Path, episodes: int) -> list[int]:
    """First frames of the episodes: 0, then the shot starts nearest to each k/N of the length."""
    sys.path.insert(0, str(REPO))
    from videoclusternet.pipeline import scan_frames

    shots = scan_frames(str(video)).shots
    starts = [s.start_frame for s in shots[1:]] or [0]
    total = shots[-1].end_frame + 1
    cuts = sorted({min(starts, key=lambda s: abs(s - k * total / episodes)) for k in range(1, episodes)})
    return [0, *[c for c in cuts if c > 0]]


def cut_clip(clip: Path, episodes: int, out: Path) -> list[Path]:
    """The episodes' videos (`<clip>.S01E0k.mkv`, truth beside each), made once into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    starts = cut_points(clip / "video.mp4", episodes)
    names = [out / f"{clip.name}.S01E{k + 1:02d}.mkv" for k in range(len(starts))]
    reader = cv2.VideoCapture(str(clip / "video.mp4"))
    fps = reader.get(cv2.CAP_PROP_FPS)
    size = int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)), int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT))
    bounds = [*starts[1:], 1 << 62]
    if not all(n.exists() for n in names):
        frame_idx, part, writer = 0, -1, None
        while (frame := reader.read()[1]) is not None:
            if part < 0 or frame_idx >= bounds[part]:
                if writer:
                    writer.release()
                part += 1
                writer = cv2.VideoWriter(str(names[part]), cv2.VideoWriter_fourcc(*"FFV1"), fps, size)
            writer.write(frame)
            frame_idx += 1
        writer.release()
    reader.release()
    with open(clip / "faces.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for k, name in enumerate(names):
        start, end = starts[k], bounds[k]
        with open(name.with_suffix(".faces.csv"), "w", newline="") as fh:
            writer = csv.DictWriter(fh, TRUTH_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(
                {**r, "frame_idx": int(r["frame_idx"]) - start} for r in rows if start <= int(r["frame_idx"]) < end
            )
    return names


def referee(truth: Path, pred: Path) -> dict:
    run = subprocess.run(
        [sys.executable, str(SHARED / "eval" / "score.py"), str(truth), str(pred)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(run.stdout)


def season_scores(videos: list[Path], home: Path, cache: Path, work: Path, season: str) -> tuple[dict, dict]:
    """The referee's figures for the season's persons over all episodes as one item set, and the persons'
    spread: persons found, and per true identity the persons (with 3+ tracks) it is split into."""
    sys.path.insert(0, str(REPO))
    from videoclusternet.metrics import PredictionRows, match_boxes, read_truth_csv
    from videoclusternet.titles import title_key_from_filename

    export = work / "season.csv"
    subprocess.run(
        [*VCN, "export", season, "--out", str(export)], env=vcn_env(home, cache), check=True, capture_output=True
    )
    with open(export, newline="") as fh:
        rows = list(csv.DictReader(fh))
    offset, start = {}, 0
    for video in videos:
        offset[title_key_from_filename(video)] = start
        start += int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
    truth_csv, pred_csv = work / "season_truth.csv", work / "season_pred.csv"
    with open(truth_csv, "w", newline="") as out:
        writer = csv.DictWriter(out, TRUTH_COLUMNS)
        writer.writeheader()
        for video in videos:
            with open(video.with_suffix(".faces.csv"), newline="") as fh:
                for r in csv.DictReader(fh):
                    writer.writerow({**r, "frame_idx": int(r["frame_idx"]) + offset[title_key_from_filename(video)]})
    with open(pred_csv, "w", newline="") as out:
        writer = csv.DictWriter(out, ["frame_idx", "x1", "y1", "x2", "y2", "cluster_id", "track_id"])
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {
                    **{k: r[k] for k in ("x1", "y1", "x2", "y2")},
                    "frame_idx": int(r["frame_idx"]) + offset[r["title"]],
                    "cluster_id": r["person_id"],
                    "track_id": f"{r['title']}:{r['track_id']}" if r["track_id"] not in ("", "-1") else "",
                }
            )
    figures = referee(truth_csv, pred_csv)
    # Which true identity each person's faces are, by the referee's own matching.
    truth = read_truth_csv(truth_csv)
    pred = PredictionRows(
        frame_idx=[int(r["frame_idx"]) + offset[r["title"]] for r in rows],
        boxes=[[float(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in rows],
        cluster_id=[r["person_id"] for r in rows],
        track_id=[r["track_id"] for r in rows],
    )
    matched = match_boxes(truth, pred)  # per truth row, the prediction it matched (-1: none)
    kind = truth.kind
    votes: dict[str, Counter] = defaultdict(Counter)
    for t, p in enumerate(matched):
        if p >= 0 and rows[p]["person_id"] and kind[t] == "identity":
            votes[rows[p]["person_id"]][truth.identity[t]] += 1
    tracks = Counter()
    for r in {(r["person_id"], r["title"], r["track_id"]) for r in rows if r["person_id"]}:
        tracks[r[0]] += 1
    split: Counter = Counter()
    for person, counts in votes.items():
        if tracks[person] >= 3:
            split[counts.most_common(1)[0][0]] += 1
    persons = len({r["person_id"] for r in rows if r["person_id"]})
    return figures, {"persons": persons, "split": split}


def main() -> None:
    sys.path.insert(0, str(REPO))
    from videoclusternet.titles import season_of, title_key_from_filename

    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="also run the uncut clip as one title")
    clips, args, cache = clips_from_command_line(parser)
    for clip in clips:
        videos = cut_clip(clip, args.episodes, REPO / "bench" / "out" / "seasons" / clip.name)
        season = season_of(title_key_from_filename(videos[0]))
        with tempfile.TemporaryDirectory() as tmp:
            home = args.keep_home / clip.name if args.keep_home else Path(tmp) / "home"
            shutil.rmtree(home, ignore_errors=True)
            subprocess.run([*VCN, "run", *map(str, videos)], env=vcn_env(home, cache), check=True, capture_output=True)
            print(f"{clip.name}: {len(videos)} episodes")
            for video in videos:
                title = title_key_from_filename(video)
                pred = Path(tmp) / f"{title}.csv"
                subprocess.run([*VCN, "export", title, "--out", str(pred)], env=vcn_env(home, cache), check=True)
                face = referee(video.with_suffix(".faces.csv"), pred)["clustering"]
                print(
                    f"  {title:18} BCubed F {face['bcubed_f']:.3f}  WCP {face['wcp']:.3f}"
                    f"  clusters {face['n_clusters_pred']}/{face['n_identities_true']}"
                )
            figures, spread = season_scores(videos, home, cache, Path(tmp), season)
            face = figures["clustering"]
            worst = max(spread["split"].values(), default=0)
            print(
                f"  season {season:11} BCubed F {face['bcubed_f']:.3f}  WCP {face['wcp']:.3f}"
                f"  persons {spread['persons']} for {face['n_identities_true']} true"
                f"  (faces' clusters {face['n_clusters_pred']}); most persons (3+ tracks) per true person: {worst}"
                f" {dict(spread['split'])}"
            )
            if args.whole:
                whole = Path(tmp) / "whole"
                title, _ = run_clip(clip, whole, 1, cache)
                whole_face = score(clip, whole, cache, title)["clustering"]
                print(f"  uncut, one title     BCubed F {whole_face['bcubed_f']:.3f}  WCP {whole_face['wcp']:.3f}")


if __name__ == "__main__":
    main()
