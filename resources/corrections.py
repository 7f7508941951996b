"""The corrections log of a season: one appended row per correction (`correction_log`), read back as the
method's `Correction`s, and the anchors that let a correction find its tracks again after a re-run.

Ids are one sequence per home (`vcn corrections` lists them, `vcn undo` names one); a lock file keeps two
writers (the CLI and the review page) from taking the same id.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from vcn_resources.warehouse import Warehouse
from videoclusternet.corrections import VERBS, Constraints, Correction, TrackFacesIndex, constraints_of, effective
from videoclusternet.stages import SEASON_CAST
from videoclusternet.titles import cast_season


@contextmanager
def _locked(warehouse: Warehouse) -> Iterator[None]:
    warehouse.home.mkdir(parents=True, exist_ok=True)
    with open(warehouse.home / ".corrections.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def load_corrections(warehouse: Warehouse, season: str) -> list[Correction]:
    """The season's corrections, oldest first (undo rows included)."""
    con = warehouse.connect()
    rows = con.execute(
        "SELECT correction_id, verb, arguments, who FROM correction_log WHERE season = ? ORDER BY correction_id",
        [season],
    ).fetchall()
    return [Correction(int(i), season, verb, json.loads(arguments), who) for i, verb, arguments, who in rows]


def append_correction(
    warehouse: Warehouse, season: str, verb: str, arguments: dict[str, Any], who: str | None = None
) -> Correction:
    """Append one correction to the season's log; its id is the next of the home's sequence."""
    if verb not in VERBS:
        raise ValueError(f"unknown correction {verb!r}; one of {', '.join(VERBS)}")
    who = who or os.environ.get("USER") or "unknown"
    with _locked(warehouse):
        (last,) = warehouse.connect().execute("SELECT max(correction_id) FROM correction_log").fetchone()
        correction = Correction((last or 0) + 1, season, verb, arguments, who)
        warehouse.write(
            "correction_log",
            season,
            {
                "correction_id": [correction.id],
                "verb": [verb],
                "arguments": [json.dumps(arguments)],
                "who": [who],
                "created_at": [dt.datetime.now(dt.UTC)],
            },
            run_id="",
            code_version=SEASON_CAST.version,
            append=True,
        )
    return correction


def season_track_faces(warehouse: Warehouse, titles: list[str]) -> TrackFacesIndex:
    """The faces of the titles' kept tracks, for anchors to be found in."""
    con = warehouse.connect()
    rows = con.execute(
        "SELECT title, track, frame, x1, y1, x2, y2 FROM detections WHERE track_status = 'kept' "
        "AND title IN (SELECT unnest(?))",
        [titles],
    ).fetchall()
    if not rows:
        return TrackFacesIndex(np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)))
    title, track, frame, *box = zip(*rows)
    return TrackFacesIndex(np.array(title, object), np.array(track), np.array(frame), np.stack(box, axis=1))


def rescued_tracks(
    warehouse: Warehouse, title: str, frames: np.ndarray, boxes: np.ndarray, track_of: np.ndarray
) -> dict:
    """The tracks of a new tracking of `title` (each face's frame, box and track) that a correction moved out of
    the set-aside tracks (`vcn move` of a track the quality filter set aside), found by their anchors:
    track -> the correction's id."""
    moves = [
        c
        for c in effective(load_corrections(warehouse, cast_season(title)))
        if c.verb == "move" and c.arguments.get("rescue") and c.arguments["title"] == title
    ]
    if not moves:
        return {}
    faces = TrackFacesIndex(np.full(len(frames), title, object), np.asarray(track_of), np.asarray(frames), boxes)
    found = faces.find([c.arguments["track"] for c in moves])
    return {track[1]: c.id for c, track in zip(moves, found) if track is not None}


def track_anchors(warehouse: Warehouse, tracks: list[tuple[str, int]]) -> list[list]:
    """One anchor per track: its middle face, as `[title, frame, x1, y1, x2, y2]`."""
    if not tracks:
        return []
    rows = (
        warehouse.connect()
        .execute(
            """SELECT title, track, frame, x1, y1, x2, y2 FROM (
               SELECT d.*, row_number() OVER (PARTITION BY title, track ORDER BY frame) AS n,
                      count(*) OVER (PARTITION BY title, track) AS faces
               FROM detections d JOIN (SELECT unnest(?) AS title, unnest(?) AS track) w USING (title, track))
           WHERE n = (faces + 1) // 2""",
            [[t for t, _ in tracks], [int(k) for _, k in tracks]],
        )
        .fetchall()
    )
    by_track = {(t, int(k)): [t, int(f), *(round(v, 1) for v in box)] for t, k, f, *box in rows}
    return [by_track[t] for t in tracks if t in by_track]


def person_tracks(warehouse: Warehouse, season: str, person_id: str) -> list[tuple[str, int]]:
    """The tracks of a person of the season's current cast; a clear error for an unknown person."""
    rows = (
        warehouse.connect()
        .execute(
            "SELECT title, track FROM person_tracks WHERE season = ? AND person_id = ? ORDER BY title, track",
            [season, person_id],
        )
        .fetchall()
    )
    if not rows:
        raise ValueError(f"no person {person_id!r} in season {season!r}: `vcn people {season}` lists them")
    return [(t, int(k)) for t, k in rows]


def title_constraints(warehouse: Warehouse, title: str) -> Constraints:
    """The corrections of the title's season that concern the title's own tracks, found among them."""
    season = cast_season(title)
    return constraints_of(load_corrections(warehouse, season), season_track_faces(warehouse, [title])).for_title(title)
