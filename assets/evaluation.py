"""Evaluation as part of the product: a title's clusters scored against ground truth, kept in `evaluations`
(the figures) and `evaluation_identities` (where each true identity's faces went).

`vcn evaluate TITLE --truth GT.csv` and the `face_clusters_match_truth` check share this code. The
check runs when a truth file sits next to the title's video: `<video stem>.faces.csv`, or `faces.csv`
in a folder that holds one video (the layout of our evaluation clips).
"""

import datetime as dt
import json
import uuid
from dataclasses import fields
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np

from assets.checks_common import report, title_check
from assets.common import code_version_of
from assets.identities import face_clusters
from resources import MediaLibraryResource, WarehouseResource
from resources.schemas import TABLES
from videoclusternet.metrics import Evaluation, IdentitySpread, PredictionRows, evaluate, read_truth_csv
from videoclusternet.video import VIDEO_EXTENSIONS

EXPORT_COLUMNS = ["frame_idx", "timestamp", "x1", "y1", "x2", "y2", "track_id", "cluster_id"]
# The product's quality targets on footage with ground truth; below them the check warns.
TARGETS = {"face_bcubed_f": 0.95, "face_wcp": 0.97, "detection_recall": 0.9}
CLUSTER_RATIO = (0.9, 1.3)


def scorer_rows(con: duckdb.DuckDBPyConnection, title: str) -> list[dict]:
    """One row per detected face, the scorer's contract: cluster empty for faces of tracks set aside."""
    rows = con.execute(
        """SELECT frame AS frame_idx, timestamp, x1, y1, x2, y2, track AS track_id,
                  CASE WHEN track_status = 'kept' THEN cluster END AS cluster_id
           FROM detections WHERE title = ? ORDER BY frame, face""",
        [title],
    ).fetchall()
    return [dict(zip(EXPORT_COLUMNS, r)) for r in rows]


def truth_file_for(video: Path) -> Path | None:
    """The ground truth that sits next to a video, if any."""
    own = video.with_name(f"{video.stem}.faces.csv")
    if own.exists():
        return own
    shared = video.parent / "faces.csv"
    videos = [p for p in video.parent.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS]
    return shared if shared.exists() and len(videos) == 1 else None


def evaluate_title(
    warehouse: WarehouseResource, title: str, truth: Path, run_id: str, iou_threshold: float = 0.4
) -> Evaluation:
    """Score the title's current clusters against `truth`; append the figures to `evaluations` and where
    each identity's faces went to `evaluation_identities`.

    A title whose clustering has not finished, or truth with frames beyond the title's video, is an error.
    """
    con = warehouse.connect()
    status, error, frame_count, clustered = con.execute(
        "SELECT status, error, frame_count, face_clusters_s IS NOT NULL FROM titles WHERE title = ?", [title]
    ).fetchone() or (None, None, None, False)
    if not clustered:
        raise ValueError(f"title {title!r} has no clusters to score (status {status}{f': {error}' if error else ''})")
    truth_rows = read_truth_csv(truth)
    beyond = np.flatnonzero(truth_rows.frame_idx >= frame_count)
    if len(beyond):
        raise ValueError(
            f"{truth}: line {beyond[0] + 2}: frame_idx {truth_rows.frame_idx[beyond[0]]} is beyond the last frame "
            f"({frame_count - 1}) of title {title!r}: is it the truth of another video?"
        )
    rows = scorer_rows(con, title)
    predictions = PredictionRows(
        frame_idx=[r["frame_idx"] for r in rows],
        boxes=[[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows],
        cluster_id=[r["cluster_id"] for r in rows],
        track_id=[r["track_id"] for r in rows],
    )
    evaluation = evaluate(truth_rows, predictions, iou_threshold)
    figures = evaluation.as_dict()
    lineage = con.execute(
        "SELECT any_value(run_id), any_value(model_version), any_value(clusterer) FROM cluster_assignments "
        "WHERE title = ?",
        [title],
    ).fetchone()
    made = {
        "evaluation_id": uuid.uuid4().hex,
        "clusters_run_id": lineage[0],
        "model_version": lineage[1],
        "clusterer": lineage[2],
        "evaluated_at": dt.datetime.now(dt.UTC),
    }
    version = code_version_of("face_clusters")
    spread = evaluation.identities
    # The breakdown first: an `evaluations` row, written last, means its evaluation is complete.
    warehouse.write(
        "evaluation_identities",
        title,
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
        title,
        {
            **stored,
            **{k: [v] for k, v in made.items()},
            "truth_path": [str(Path(truth).resolve())],
            "figures": [json.dumps(figures)],
        },
        run_id=run_id,
        code_version=version,
        append=True,
    )
    return evaluation


def shortfalls(figures: dict) -> list[str]:
    """The product targets a title's figures miss."""
    missed = [f"{k} {figures[k]:.3f} < {target}" for k, target in TARGETS.items() if figures[k] < target]
    low, high = CLUSTER_RATIO
    if not low <= figures["face_cluster_ratio"] <= high:
        missed.append(f"face_cluster_ratio {figures['face_cluster_ratio']:.2f} outside {low}..{high}")
    return missed


@title_check(face_clusters, blocking=False)
def face_clusters_match_truth(
    context: dg.AssetCheckExecutionContext, media: MediaLibraryResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """When ground truth sits next to the video: the clusters meet the product's targets (BCubed F, WCP,
    detection recall, predicted/true clusters); the figures are stored in `evaluations` either way."""
    title = context.partition_key
    truth = truth_file_for(Path(media.lookup(title)["path"]))
    if truth is None:
        return dg.AssetCheckResult(passed=True, metadata={"truth": "none next to the video"})
    try:
        evaluation = evaluate_title(warehouse, title, truth, context.run.run_id)
    except ValueError as exc:  # an unreadable truth file: say which and why, store nothing
        return report(context, warehouse, [str(exc)], truth=str(truth))
    figures = evaluation.as_dict()
    shown = {k: round(figures[k], 4) for k in [*TARGETS, "face_cluster_ratio", "face_nmi"]}
    split = max(evaluation.identities, key=lambda s: s.clusters + s.unclustered, default=None)
    if split is not None:
        shown["most_split_identity"] = f"{split.identity}: {split.clusters} clusters, {split.unclustered} unclustered"
    return report(context, warehouse, shortfalls(figures), truth=str(truth), **shown)
