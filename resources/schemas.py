"""Columns of every table the product writes. One Parquet file per (table, title) holds a title's rows, and one
per (table, season) a season's; a table's first column names which it is keyed by."""

from __future__ import annotations

import pyarrow as pa

from videoclusternet.stages import STAGE_NAMES

_LINEAGE = [("run_id", pa.string()), ("code_version", pa.string())]


def _schema(*fields: tuple[str, pa.DataType], key: str = "title") -> pa.Schema:
    return pa.schema([(key, pa.string()), *fields, *_LINEAGE])


TABLES: dict[str, pa.Schema] = {
    "titles": _schema(
        ("path", pa.string()),
        ("content_sha256", pa.string()),
        ("size_bytes", pa.int64()),
        ("status", pa.string()),
        ("stage", pa.string()),
        ("error", pa.string()),
        ("fps", pa.float64()),
        ("frame_count", pa.int64()),
        ("stride", pa.int32()),  # faces were detected on every stride-th frame
        ("duration_s", pa.float64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        *[(f"{stage}_s", pa.float64()) for stage in STAGE_NAMES],  # wall seconds of each stage's last run
        ("updated_at", pa.timestamp("s", tz="UTC")),
    ),
    "shots": _schema(
        ("shot", pa.int32()),
        ("start_frame", pa.int64()),
        ("end_frame", pa.int64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
    ),
    "frames": _schema(("frame", pa.int64()), ("timestamp", pa.float64()), ("shot", pa.int32())),
    "face_detections": _schema(
        ("face", pa.int64()),
        ("frame", pa.int64()),
        ("timestamp", pa.float64()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("x2", pa.float32()),
        ("y2", pa.float32()),
        ("landmarks", pa.list_(pa.float32(), 10)),
        ("score", pa.float32()),
        ("size_px", pa.float32()),
        ("sharpness", pa.float32()),
        ("detector", pa.string()),
    ),
    "face_track_members": _schema(
        ("face", pa.int64()),
        ("track", pa.int64()),
        ("raw_norm", pa.float32()),
    ),
    "tracks": _schema(
        ("track", pa.int64()),
        ("shot", pa.int32()),
        ("first_frame", pa.int64()),
        ("last_frame", pa.int64()),
        ("faces", pa.int64()),
        ("median_score", pa.float32()),
        ("best_size_px", pa.float32()),
        ("best_sharpness", pa.float32()),
        ("median_raw_norm", pa.float32()),
        ("status", pa.string()),
        ("reason", pa.string()),
    ),
    "track_embeddings": _schema(
        ("track", pa.int64()),
        ("faces_embedded", pa.int32()),
        ("embedder", pa.string()),
    ),
    "adapted_models": _schema(
        ("mlflow_run_id", pa.string()),
        ("model_uri", pa.string()),
        ("registered_model", pa.string()),
        ("model_version", pa.string()),
        ("checkpoint_sha256", pa.string()),
        ("device", pa.string()),
        ("intra_track_pairs", pa.int64()),
        ("track_links", pa.int64()),
        ("confirmed_links", pa.int64()),
        ("links_rejected_by_cooccurrence", pa.int64()),
        ("adaptation_seconds", pa.float64()),
    ),
    # Users query the view `cluster_assignments`, which adds each track's season person.
    "track_clusters": _schema(
        ("track", pa.int64()),
        ("cluster", pa.int64()),
        ("clusterer", pa.string()),
        ("model_version", pa.string()),
    ),
    "identities": _schema(
        ("cluster", pa.int64()),
        ("tracks", pa.int64()),
        ("faces", pa.int64()),
        ("screen_seconds", pa.float64()),
        ("first_seen_s", pa.float64()),
        ("last_seen_s", pa.float64()),
        ("crop_path", pa.string()),
    ),
}

# A season's persons (`season_cast`): the identities of its episodes linked across the season.
TABLES["season_persons"] = _schema(
    ("person_id", pa.string()),
    ("name", pa.string()),
    ("kind", pa.string()),  # recurring (in two or more episodes) or guest (in one)
    ("episodes", pa.int64()),
    ("tracks", pa.int64()),
    ("faces", pa.int64()),
    ("screen_seconds", pa.float64()),
    ("first_title", pa.string()),
    ("first_seen_s", pa.float64()),
    ("last_title", pa.string()),
    ("last_seen_s", pa.float64()),
    ("crop_path", pa.string()),  # the face that shows the person best (JPEG)
    ("sheet_path", pa.string()),  # a contact sheet of its faces across tracks and episodes (PNG)
    key="season",
)
# Per person and episode cluster: where the person appears.
TABLES["person_appearances"] = _schema(
    ("person_id", pa.string()),
    ("title", pa.string()),
    ("cluster", pa.int64()),
    ("tracks", pa.int64()),
    ("faces", pa.int64()),
    ("seconds", pa.float64()),
    ("first_seen_s", pa.float64()),
    ("last_seen_s", pa.float64()),
    key="season",
)
# Per kept track of the season's episodes: its person.
TABLES["person_tracks"] = _schema(
    ("title", pa.string()), ("track", pa.int64()), ("person_id", pa.string()), key="season"
)
# Appended to: every person id that appeared, ended or moved, and why.
TABLES["person_id_changes"] = _schema(
    ("old_person_id", pa.string()),
    ("new_person_id", pa.string()),
    ("reason", pa.string()),
    ("changed_at", pa.timestamp("s", tz="UTC")),
    key="season",
)

# Appended to: people's corrections of a season's cast (`vcn merge`, the review page...), one row each.
TABLES["correction_log"] = _schema(
    ("correction_id", pa.int64()),
    ("verb", pa.string()),
    ("arguments", pa.string()),  # JSON: the persons and tracks named, with the anchors of their tracks
    ("who", pa.string()),
    ("created_at", pa.timestamp("s", tz="UTC")),
    key="season",
)
# Per correction, as the season's latest linking found it: whether it applies, and the run that first applied it.
TABLES["correction_status"] = _schema(
    ("correction_id", pa.int64()),
    ("applies", pa.bool_()),
    ("reason", pa.string()),  # why it no longer applies
    ("first_applied_run_id", pa.string()),
    key="season",
)

# What an evaluation scored, and when: the columns both evaluation tables start with.
_EVALUATED = (
    ("evaluation_id", pa.string()),
    ("clusters_run_id", pa.string()),
    ("model_version", pa.string()),
    ("clusterer", pa.string()),
    ("evaluated_at", pa.timestamp("s", tz="UTC")),
)
TABLES["evaluations"] = _schema(
    *_EVALUATED,
    ("truth_path", pa.string()),
    ("iou_threshold", pa.float64()),
    ("detection_recall", pa.float64()),
    ("face_wcp", pa.float64()),
    ("face_nmi", pa.float64()),
    ("face_bcubed_precision", pa.float64()),
    ("face_bcubed_recall", pa.float64()),
    ("face_bcubed_f", pa.float64()),
    ("face_pairwise_f", pa.float64()),
    ("face_cluster_ratio", pa.float64()),
    ("face_n_clusters_pred", pa.int64()),
    ("face_n_identities_true", pa.int64()),
    ("track_wcp", pa.float64()),
    ("track_nmi", pa.float64()),
    ("figures", pa.string()),  # JSON: every figure `vcn evaluate` prints, the ones above included
)
# Per evaluation (`evaluation_id`), where each true identity's faces went.
TABLES["evaluation_identities"] = _schema(
    *_EVALUATED,
    ("identity", pa.string()),
    ("faces", pa.int64()),
    ("found", pa.int64()),
    ("clusters", pa.int64()),
    ("unclustered", pa.int64()),
    ("largest_cluster", pa.string()),
    ("largest_share", pa.float64()),
    ("largest_purity", pa.float64()),
)

# Views users query; they join the per-stage tables into the shapes people ask for.
VIEWS: dict[str, str] = {
    "detections": """
        SELECT d.title, d.face, d.frame, d.timestamp, d.x1, d.y1, d.x2, d.y2, d.landmarks, d.score,
               d.size_px, d.sharpness, m.track, t.status AS track_status, c.cluster,
               CASE WHEN c.cluster IS NOT NULL THEN p.person_id END AS person_id  -- a season's, of this clustering
        FROM face_detections d
        LEFT JOIN face_track_members m USING (title, face)
        LEFT JOIN tracks t USING (title, track)
        LEFT JOIN track_clusters c USING (title, track)
        LEFT JOIN person_tracks p USING (title, track)
    """,
    # Every correction with where it stands: applied (and by which run first), undone, or no longer applying.
    "corrections": """
        SELECT l.season AS scope, l.correction_id AS id, l.verb, l.arguments, l.created_at, l.who,
               s.first_applied_run_id AS applied_by_run, s.applies, s.reason,
               EXISTS (SELECT 1 FROM correction_log u WHERE u.verb = 'undo' AND u.season = l.season
                       AND CAST(u.arguments->>'correction' AS BIGINT) = l.correction_id) AS undone
        FROM correction_log l LEFT JOIN correction_status s USING (season, correction_id)
    """,
    # Per kept track: its cluster in the title, and its person in the season.
    "cluster_assignments": """
        SELECT c.*, p.person_id FROM track_clusters c LEFT JOIN person_tracks p USING (title, track)
    """,
    # One row per episode of a series season (`show.s01e03` -> season `show.s01`); GROUP BY season rolls it up.
    "season_summary": """
        WITH faces AS (SELECT title, count(*) AS faces FROM face_detections GROUP BY title),
        tracked AS (
            SELECT title, count(*) FILTER (WHERE status = 'kept') AS tracks_kept,
                   count(*) FILTER (WHERE status <> 'kept') AS tracks_set_aside
            FROM tracks GROUP BY title
        ),
        people AS (SELECT title, count(*) AS identities FROM identities GROUP BY title)
        SELECT regexp_extract(t.title, '^(.+\\.s[0-9]+)e[0-9]+$', 1) AS season, t.title, t.status,
               coalesce(faces.faces, 0) AS faces, coalesce(tracked.tracks_kept, 0) AS tracks_kept,
               coalesce(tracked.tracks_set_aside, 0) AS tracks_set_aside,
               coalesce(people.identities, 0) AS identities
        FROM titles t
        LEFT JOIN faces USING (title)
        LEFT JOIN tracked USING (title)
        LEFT JOIN people USING (title)
        WHERE regexp_matches(t.title, '^.+\\.s[0-9]+e[0-9]+$')
        ORDER BY season, t.title
    """,
    # Who is in a title, by screen time, with the picture of each person and the model that grouped them.
    "cast_list": """
        SELECT i.title, i.cluster,
               row_number() OVER (PARTITION BY i.title ORDER BY i.screen_seconds DESC, i.cluster) AS screen_rank,
               i.tracks, i.faces, i.screen_seconds, i.first_seen_s, i.last_seen_s, i.crop_path,
               c.clusterer, c.model_version, i.run_id, a.person_id, sp.name
        FROM identities i
        LEFT JOIN (
            SELECT title, cluster, any_value(clusterer) AS clusterer, any_value(model_version) AS model_version
            FROM track_clusters GROUP BY title, cluster
        ) c USING (title, cluster)
        LEFT JOIN person_appearances a USING (title, cluster)
        LEFT JOIN season_persons sp ON sp.season = a.season AND sp.person_id = a.person_id
    """,
    # Per person per episode: series and season from the title key (`show.s01e03`: `show`, `show.s01`; NULL
    # season for a film), and the person's share of all the title's on-screen face time.
    "screen_time": """
        SELECT split_part(i.title, '.', 1) AS series,
               NULLIF(regexp_extract(i.title, '^(.+[.]s[0-9]+)', 1), '') AS season,
               i.title, i.cluster, a.person_id, sp.name, i.screen_seconds,
               i.screen_seconds / NULLIF(sum(i.screen_seconds) OVER (PARTITION BY i.title), 0) AS share
        FROM identities i
        LEFT JOIN person_appearances a USING (title, cluster)
        LEFT JOIN season_persons sp ON sp.season = a.season AND sp.person_id = a.person_id
    """,
    # Pairs of people (a < b) with tracks in the same shot of a title.
    "cooccurrence": """
        WITH present AS (
            SELECT DISTINCT t.title, t.shot, c.cluster, c.person_id
            FROM tracks t JOIN cluster_assignments c USING (title, track)
        )
        SELECT a.title, a.cluster AS cluster_a, b.cluster AS cluster_b, any_value(a.person_id) AS person_a,
               any_value(b.person_id) AS person_b, count(*) AS shots_together,
               sum(s.end_s - s.start_s) AS shot_seconds_together
        FROM present a
        JOIN present b ON a.title = b.title AND a.shot = b.shot AND a.cluster < b.cluster
        JOIN shots s ON s.title = a.title AND s.shot = a.shot
        GROUP BY a.title, a.cluster, b.cluster
    """,
    # One row per title: where it stands, what was found, and the wall seconds of each stage.
    "title_summary": f"""
        WITH shot_counts AS (SELECT title, count(*) AS shots FROM shots GROUP BY title),
        faces AS (SELECT title, count(*) AS faces FROM face_detections GROUP BY title),
        tracked AS (
            SELECT title, count(*) FILTER (WHERE status = 'kept') AS tracks_kept,
                   count(*) FILTER (WHERE status <> 'kept') AS tracks_set_aside
            FROM tracks GROUP BY title
        ),
        people AS (SELECT title, count(*) AS identities FROM identities GROUP BY title)
        SELECT t.title, t.status, t.stage, t.error, t.duration_s,
               coalesce(shot_counts.shots, 0) AS shots, coalesce(faces.faces, 0) AS faces,
               coalesce(tracked.tracks_kept, 0) AS tracks_kept,
               coalesce(tracked.tracks_set_aside, 0) AS tracks_set_aside,
               coalesce(people.identities, 0) AS identities,
               {", ".join(f"t.{stage}_s" for stage in STAGE_NAMES)}, t.updated_at
        FROM titles t
        LEFT JOIN shot_counts USING (title)
        LEFT JOIN faces USING (title)
        LEFT JOIN tracked USING (title)
        LEFT JOIN people USING (title)
    """,
}
