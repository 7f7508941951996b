"""What the review page shows, read from the views: a person's tracks and timeline, the tracks set aside, the
casts a home holds. The people, questions and corrections themselves come from `vcn_dagster.operations`, as
the CLI's do."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from vcn_resources.exports import Interval, TitleTiming, on_screen_intervals
from vcn_resources.pictures import faces_to_show
from vcn_resources.warehouse import Warehouse

FACES_PER_TRACK = 6  # faces shown per track row


@dataclass
class TrackView:
    title: str
    track: int
    faces: int
    first_s: float
    last_s: float
    shown: list[int] = field(default_factory=list)  # face ids, best first
    reason: str | None = None  # why it was set aside


@dataclass
class Timeline:
    """One episode's strip: the person's intervals as shares of the title's length."""

    title: str
    duration_s: float
    intervals: list[Interval]

    def spans(self) -> list[tuple[float, float, Interval]]:
        """(left %, width %, interval) of each interval; at least a sliver wide so that a single face shows."""
        whole = max(self.duration_s, 1e-6)
        return [(100 * i.start_s / whole, max(0.3, 100 * (i.end_s - i.start_s) / whole), i) for i in self.intervals]


def short_id(person_id: str) -> str:
    """`show.s01/p0007` as the page's URLs name it: `p0007`."""
    return person_id.rsplit("/", 1)[-1]


def casts(warehouse: Warehouse) -> list[tuple[str, int, int]]:
    """(season, persons, episodes) of every linked season in the home."""
    con = warehouse.connect()
    return con.execute(
        "SELECT season, count(*), max(episodes) FROM season_persons GROUP BY season ORDER BY season"
    ).fetchall()


def _tracks(con: duckdb.DuckDBPyConnection, where: str, parameters: list) -> list[TrackView]:
    """Tracks with their faces best first (`faces_to_show`), from the detections the `where` picks."""
    rows = con.execute(
        f"""SELECT d.title, d.face, d.track, d.score, d.sharpness, d.landmarks, d.timestamp,
                   coalesce(t.reason, 'not a face, by a correction')
            FROM detections d JOIN tracks t USING (title, track) WHERE {where} ORDER BY d.title, d.track, d.face""",
        parameters,
    ).fetchall()
    by_track: dict[tuple[str, int], list[tuple]] = {}
    for row in rows:
        by_track.setdefault((row[0], int(row[2])), []).append(row)
    views = []
    for (title, track), own in by_track.items():
        times = [r[6] for r in own]
        shown = [face for _, face in faces_to_show([r[:6] for r in own], FACES_PER_TRACK)]
        views.append(TrackView(title, track, len(own), min(times), max(times), shown, own[0][7]))
    return views


def person_tracks(warehouse: Warehouse, person_id: str) -> list[TrackView]:
    """A person's tracks in time order, each with its best faces."""
    return _tracks(warehouse.connect(), "d.person_id = ? AND d.track_status = 'kept'", [person_id])


def track(warehouse: Warehouse, title: str, track_id: int) -> TrackView | None:
    """One track with its best faces."""
    found = _tracks(warehouse.connect(), "d.title = ? AND d.track = ?", [title, int(track_id)])
    return found[0] if found else None


def set_aside_tracks(warehouse: Warehouse, titles: list[str]) -> list[TrackView]:
    """The tracks of `titles` set aside (too short, low quality, not a face), each with its reason, and those
    a correction took out of the cast."""
    if not titles:
        return []
    marks = ", ".join("?" * len(titles))
    where = f"d.title IN ({marks}) AND (d.track_status <> 'kept' OR d.person_id IS NULL)"
    return _tracks(warehouse.connect(), where, titles)


def timelines(warehouse: Warehouse, person_id: str, name: str | None) -> list[Timeline]:
    """Per episode the person is in: its on-screen intervals over the episode's length."""
    con = warehouse.connect()
    rows = con.execute(
        "SELECT title, timestamp FROM detections WHERE person_id = ? AND track_status = 'kept'", [person_id]
    ).fetchall()
    titles = sorted({t for t, _ in rows})
    timings = {t: TitleTiming.of(warehouse.require_title(t)) for t in titles}
    faces = [{"title": t, "timestamp": s, "person_id": person_id, "name": name} for t, s in rows]
    intervals = on_screen_intervals(faces, timings)
    return [Timeline(t, timings[t].duration_s, [i for i in intervals if i.title == t]) for t in titles]


def face_box(warehouse: Warehouse, title: str, face: int) -> tuple[int, tuple[float, float, float, float]]:
    """The frame a face was detected on and its box."""
    rows = warehouse.rows("face_detections", title)
    at = int(np.searchsorted(rows["face"], face))
    if at >= len(rows["face"]) or rows["face"][at] != face:
        raise KeyError(f"face {face} of {title!r}")
    return int(rows["frame"][at]), tuple(float(rows[c][at]) for c in ("x1", "y1", "x2", "y2"))
