"""What `vcn export` writes: a title's or a season's faces in the shapes other tools read. Reads the views
only, so that an export starts at once (no Dagster, no model runtime)."""

from __future__ import annotations

import duckdb

# The scorer's contract (../shared/eval/score.py reads it): one row per detected face; `person_id` last.
EXPORT_COLUMNS = ["frame_idx", "timestamp", "x1", "y1", "x2", "y2", "track_id", "cluster_id", "person_id"]
# A season's: every face of every episode, its title first.
SEASON_EXPORT_COLUMNS = ["title", *EXPORT_COLUMNS]

_FACES = """
    SELECT title, frame AS frame_idx, timestamp, x1, y1, x2, y2, track AS track_id,
           CASE WHEN track_status = 'kept' THEN cluster END AS cluster_id,
           CASE WHEN track_status = 'kept' THEN person_id END AS person_id
    FROM detections WHERE {where} ORDER BY title, frame, face
"""


def scorer_rows(con: duckdb.DuckDBPyConnection, title: str) -> list[dict]:
    """One row per detected face of a title, the scorer's contract: cluster and person empty for faces of
    tracks set aside."""
    rows = con.execute(_FACES.format(where="title = ?"), [title]).fetchall()
    return [dict(zip(EXPORT_COLUMNS, r[1:])) for r in rows]


def season_rows(con: duckdb.DuckDBPyConnection, season: str) -> list[dict]:
    """One row per detected face of every episode linked into the season's cast, episode by episode."""
    titles = "title IN (SELECT DISTINCT title FROM person_tracks WHERE season = ?)"
    rows = con.execute(_FACES.format(where=titles), [season]).fetchall()
    return [dict(zip(SEASON_EXPORT_COLUMNS, r)) for r in rows]
