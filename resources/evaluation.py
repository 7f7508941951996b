"""Scores of a title's clusters against ground truth, kept as history: `evaluations` (the figures) and
`evaluation_identities` (where each true identity's faces went). `vcn evaluate` and the
`face_clusters_match_truth` check both write them through `evaluate_title`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import fields
from pathlib import Path

import numpy as np

from vcn_resources.exports import scorer_rows, season_rows
from vcn_resources.schemas import TABLES
from vcn_resources.warehouse import Warehouse
from videoclusternet.metrics import Evaluation, IdentitySpread, PredictionRows, TruthRows, evaluate, read_truth_csv
from videoclusternet.stages import SEASON_CAST, stage
from videoclusternet.titles import title_key_from_filename, validate_title_key
from videoclusternet.video import VIDEO_EXTENSIONS


def evaluate_title(
    warehouse: Warehouse, title: str, truth: Path, run_id: str, iou_threshold: float = 0.4
) -> Evaluation:
    """Score the title's current clusters against `truth`; append the figures to `evaluations` and where
    each identity's faces went to `evaluation_identities`.

    A title whose clustering has not finished, or truth with frames beyond the title's video, is an error.
    """
    info = warehouse.title_info(title)
    if info is None or "face_clusters" not in info.stage_seconds:
        status, error = (info.status, info.error) if info else (None, None)
        raise ValueError(f"title {title!r} has no clusters to score (status {status}{f': {error}' if error else ''})")
    frame_count = info.frame_count or 0
    truth_rows = read_truth_csv(truth)
    beyond = np.flatnonzero(truth_rows.frame_idx >= frame_count)
    if len(beyond):
        raise ValueError(
            f"{truth}: line {beyond[0] + 2}: frame_idx {truth_rows.frame_idx[beyond[0]]} is beyond the last frame "
            f"({frame_count - 1}) of title {title!r}: is it the truth of another video?"
        )
    con = warehouse.connect()
    evaluation = evaluate(truth_rows, _predictions(scorer_rows(con, title)), iou_threshold)
    lineage = con.execute(
        "SELECT any_value(run_id), any_value(model_version), any_value(clusterer) FROM track_clusters WHERE title = ?",
        [title],
    ).fetchone()
    _keep(warehouse, title, evaluation, lineage, str(Path(truth).resolve()), run_id, stage("face_clusters").version)
    return evaluation


def truth_file_for(video: Path) -> Path | None:
    """The ground truth that sits next to a video, if any."""
    own = video.with_name(f"{video.stem}.faces.csv")
    if own.exists():
        return own
    shared = video.parent / "faces.csv"
    videos = [p for p in video.parent.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS]
    return shared if shared.exists() and len(videos) == 1 else None


def season_truth_files(episodes: list[str], truth: list[Path]) -> dict[str, Path]:
    """Each episode's truth among `truth` (CSV files, or folders of them), by the title key of the file's name
    (`Show.S01E02.faces.csv` is `show.s01e02`'s); an error naming the episodes without one."""
    files = [f for t in truth for f in (sorted(Path(t).glob("*.csv")) if Path(t).is_dir() else [Path(t)])]
    by_title = {}
    for file in files:
        name = file.name.removesuffix(".csv").removesuffix(".faces")
        try:
            by_title[validate_title_key(title_key_from_filename(name + ".csv"))] = file
        except ValueError:
            continue
    missing = [e for e in episodes if e not in by_title]
    if missing:
        raise ValueError(f"no truth file for {', '.join(missing)} among {', '.join(map(str, truth))}")
    return {e: by_title[e] for e in episodes}


def evaluate_season(
    warehouse: Warehouse, season: str, truth: dict[str, Path], run_id: str, iou_threshold: float = 0.4
) -> Evaluation:
    """Score a season's persons as one item set: every episode's faces, with their person ids as the clusters,
    against the episodes' truth (identities named alike across episodes are one person). Kept like a title's
    evaluation, under the season's key."""
    con = warehouse.connect()
    rows = season_rows(con, season)
    episodes = sorted({r["title"] for r in rows})
    if not episodes:
        raise ValueError(f"season {season!r} has no linked episode to score")
    # One frame axis for the season: each episode's frames after the ones before it.
    offset, start = {}, 0
    for title in episodes:
        offset[title] = start
        start += warehouse.require_title(title).frame_count or 0
    parts = [read_truth_csv(truth[t]) for t in episodes]
    truth_rows = TruthRows(
        np.concatenate([p.frame_idx + offset[t] for p, t in zip(parts, episodes)]),
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.identity for p in parts]),
    )
    for r in rows:
        r["frame_idx"] += offset[r["title"]]
        r["cluster_id"] = r["person_id"]
        r["track_id"] = None if r["track_id"] is None else f"{r['title']}:{r['track_id']}"
    evaluation = evaluate(truth_rows, _predictions(rows), iou_threshold)
    lineage = con.execute(
        "SELECT any_value(run_id), NULL, NULL FROM person_tracks WHERE season = ?", [season]
    ).fetchone()
    paths = ";".join(str(truth[t].resolve()) for t in episodes)
    _keep(warehouse, season, evaluation, lineage, paths, run_id, SEASON_CAST.version)
    return evaluation


def _predictions(rows: list[dict]) -> PredictionRows:
    return PredictionRows(
        frame_idx=[r["frame_idx"] for r in rows],
        boxes=[[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows],
        cluster_id=[r["cluster_id"] for r in rows],
        track_id=[r["track_id"] for r in rows],
    )


def _keep(
    warehouse: Warehouse,
    key: str,
    evaluation: Evaluation,
    lineage: tuple,
    truth_path: str,
    run_id: str,
    version: str,
) -> None:
    """Append an evaluation of a title or season (`key`) to the history tables; `lineage`: the run scored, its
    model version and clusterer."""
    figures = evaluation.as_dict()
    made = {
        "evaluation_id": uuid.uuid4().hex,
        "clusters_run_id": lineage[0],
        "model_version": lineage[1],
        "clusterer": lineage[2],
        "evaluated_at": dt.datetime.now(dt.UTC),
    }
    spread = evaluation.identities
    # The breakdown first: an `evaluations` row, written last, means its evaluation is complete.
    warehouse.write(
        "evaluation_identities",
        key,
        {
            **{k: [v] * len(spread) for k, v in made.items()},
            **{f.name: [getattr(s, f.name) for s in spread] for f in fields(IdentitySpread)},
        },
        run_id=run_id,
        code_version=version,
        append=True,
    )
    stored = {name: [figures[name]] for name in TABLES["evaluations"].names if name in figures}
    warehouse.write(
        "evaluations",
        key,
        {
            **stored,
            **{k: [v] for k, v in made.items()},
            "truth_path": [truth_path],
            "figures": [json.dumps(figures)],
        },
        run_id=run_id,
        code_version=version,
        append=True,
    )
