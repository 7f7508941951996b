"""What `vcn export` writes: a title's faces in the shapes other tools read. Reads the views only, so that
an export starts at once (no Dagster, no model runtime)."""

from __future__ import annotations

import duckdb

# The scorer's contract (../shared/eval/score.py reads it): one row per detected face.
EXPORT_COLUMNS = ["frame_idx", "timestamp", "x1", "y1", "x2", "y2", "track_id", "cluster_id"]


def scorer_rows(con: duckdb.DuckDBPyConnection, title: str) -> list[dict]:
    """One row per detected face, the scorer's contract: cluster empty for faces of tracks set aside."""
    rows = con.execute(
        """SELECT frame AS frame_idx, timestamp, x1, y1, x2, y2, track AS track_id,
                  CASE WHEN track_status = 'kept' THEN cluster END AS cluster_id
           FROM detections WHERE title = ? ORDER BY frame, face""",
        [title],
    ).fetchall()
    return [dict(zip(EXPORT_COLUMNS, r)) for r in rows]
