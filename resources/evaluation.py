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

from vcn_resources.exports import scorer_rows
from vcn_resources.schemas import TABLES
from vcn_resources.warehouse import Warehouse
from videoclusternet.metrics import Evaluation, IdentitySpread, PredictionRows, evaluate, read_truth_csv
from videoclusternet.stages import stage


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
    version = stage("face_clusters").version
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
