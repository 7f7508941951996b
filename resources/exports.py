"""What `vcn export` writes: a title's or a season's faces in the shapes other tools read (the scorer's CSV,
JSON, WebVTT for a browser's `<track>`, ELAN's EAF). Reads the views only, so that an export starts at once
(no Dagster, no model runtime)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from vcn_resources.warehouse import TitleInfo

# The scorer's contract (../shared/eval/score.py reads it): one row per detected face; `person_id` and the
# person's `name` last.
EXPORT_COLUMNS = ["frame_idx", "timestamp", "x1", "y1", "x2", "y2", "track_id", "cluster_id", "person_id", "name"]
# A season's: every face of every episode, its title first.
SEASON_EXPORT_COLUMNS = ["title", *EXPORT_COLUMNS]

_FACES = """
    SELECT d.title, d.frame AS frame_idx, d.timestamp, d.x1, d.y1, d.x2, d.y2, d.track AS track_id,
           CASE WHEN d.track_status = 'kept' THEN d.cluster END AS cluster_id,
           CASE WHEN d.track_status = 'kept' THEN d.person_id END AS person_id,
           CASE WHEN d.track_status = 'kept' THEN p.name END AS name
    FROM detections d LEFT JOIN season_persons p USING (person_id)
    WHERE {where} ORDER BY d.title, d.frame, d.face
"""


def bridged(rows: list[dict], timings: dict[str, TitleTiming], default_title: str = "") -> list[dict]:
    """The rows, plus, in a title detected at a stride, a row for each frame a track stepped over, its box and
    time interpolated between the track's faces before and after it (`videoclusternet.tracking.stride_gaps`).
    In the order of the rows: by title, then frame."""
    by_title: dict[str, list[dict]] = {}
    for row in rows:
        by_title.setdefault(row.get("title", default_title), []).append(row)
    out = []
    for title, faces in by_title.items():
        stride = round(timings[title].step_s * timings[title].fps) if timings[title].fps else 1
        if stride > 1:
            from videoclusternet.tracking import stride_gaps  # OpenCV and SciPy: only where a title needs them

            frame = np.array([r["frame_idx"] for r in faces], np.int64)
            track = np.array([-1 if r["track_id"] is None else r["track_id"] for r in faces], np.int64)
            for missing, before, after in zip(*stride_gaps(frame, track, stride)):
                a, b = faces[before], faces[after]
                w = (missing - a["frame_idx"]) / (b["frame_idx"] - a["frame_idx"])
                mixed = {k: (1 - w) * a[k] + w * b[k] for k in ("timestamp", "x1", "y1", "x2", "y2")}
                faces.append({**a, **mixed, "frame_idx": int(missing)})
            faces.sort(key=lambda r: r["frame_idx"])
        out += faces
    return out


def scorer_rows(con: duckdb.DuckDBPyConnection, title: str) -> list[dict]:
    """One row per detected face of a title, the scorer's contract: cluster and person empty for faces of
    tracks set aside."""
    rows = con.execute(_FACES.format(where="d.title = ?"), [title]).fetchall()
    return [dict(zip(EXPORT_COLUMNS, r[1:])) for r in rows]


def season_rows(con: duckdb.DuckDBPyConnection, season: str) -> list[dict]:
    """One row per detected face of every episode linked into the season's cast, episode by episode."""
    titles = "d.title IN (SELECT DISTINCT title FROM person_tracks WHERE season = ?)"
    rows = con.execute(_FACES.format(where=titles), [season]).fetchall()
    return [dict(zip(SEASON_EXPORT_COLUMNS, r)) for r in rows]


@dataclass(frozen=True)
class TitleTiming:
    """What turns a title's face rows into time: its frame rate, length, and the seconds between two frames
    that faces were detected on (a face is on screen until the next of those)."""

    title: str
    fps: float
    duration_s: float
    step_s: float

    @classmethod
    def of(cls, info: TitleInfo) -> TitleTiming:
        """A title's timing, from its row of `titles`."""
        return cls(info.title, info.fps or 0.0, info.duration_s or 0.0, info.frame_step_s)


@dataclass(frozen=True)
class Interval:
    """A person on screen in one title without a break: from the first face's time to one step past the last."""

    title: str
    person_id: str
    name: str | None
    start_s: float
    end_s: float
    faces: int


def on_screen_intervals(
    rows: Iterable[dict], timings: dict[str, TitleTiming], default_title: str = ""
) -> list[Interval]:
    """Consecutive faces of a person merged into intervals, per title, in time order. Two faces are consecutive
    when no detected frame lies between them (half a step of slack for timestamps rounded by the container)."""
    times: dict[tuple[str, str], list[float]] = {}
    names: dict[str, str | None] = {}
    for row in rows:
        if row["person_id"]:
            title = row.get("title", default_title)
            times.setdefault((title, row["person_id"]), []).append(float(row["timestamp"]))
            names[row["person_id"]] = row["name"]
    intervals = []
    for (title, person), seen in times.items():
        step = timings[title].step_s
        seen = sorted(set(seen))
        start = previous = seen[0]
        count = 1
        for t in seen[1:]:
            if t - previous > 1.5 * step:
                intervals.append(Interval(title, person, names[person], start, previous + step, count))
                start, count = t, 0
            previous, count = t, count + 1
        intervals.append(Interval(title, person, names[person], start, previous + step, count))
    return sorted(intervals, key=lambda i: (i.title, i.start_s, i.person_id))


def _label(interval: Interval) -> str:
    return interval.name or interval.person_id


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def webvtt(intervals: list[Interval]) -> str:
    """A WebVTT file: one cue per interval, the person as a voice span (`<v Name>`), id where unnamed."""
    lines = ["WEBVTT", ""]
    for number, interval in enumerate(intervals, 1):
        # A voice's annotation may not hold '>' and a cue's text no '<' or '&': escaped.
        voice = html.escape(_label(interval), quote=False).replace(">", "&gt;")
        lines += [
            f"{number}",
            f"{_vtt_time(interval.start_s)} --> {_vtt_time(interval.end_s)}",
            f"<v {voice}>{voice}</v>",
            "",
        ]
    return "\n".join(lines)


def eaf(intervals: list[Interval], media: str | None) -> str:
    """An ELAN file (EAF 3.0): one tier per person, one annotation per interval, the video linked."""
    from pympi.Elan import Eaf, to_string

    document = Eaf(author="videoclusternet")
    # pympi writes 2.8 headers; the elements used here are the same in 3.0, the version ELAN writes today.
    document.adocument.update(
        {"VERSION": "3.0", "FORMAT": "3.0", "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"}
    )
    document.remove_tier("default")  # pympi starts every document with an empty tier
    if media:
        path = Path(media).resolve()
        document.add_linked_file(path.as_uri(), mimetype=_MIME.get(path.suffix.lower()))
    tiers: dict[str, str] = {}
    for interval in intervals:
        tier = tiers.get(interval.person_id)
        if tier is None:
            tier = tiers[interval.person_id] = (
                f"{interval.name} ({interval.person_id})" if interval.name else interval.person_id
            )
            document.add_tier(tier)
        start, end = round(interval.start_s * 1000), round(interval.end_s * 1000)
        document.add_annotation(tier, start, end, _label(interval))
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + to_string(document)


_MIME = {".mp4": "video/mp4", ".mkv": "video/x-matroska", ".webm": "video/webm", ".mov": "video/quicktime"}


def _rounded(row: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def as_json(key: str, rows: list[dict], timings: dict[str, TitleTiming], intervals: list[Interval]) -> dict:
    """A title's or season's cast as one JSON object: its titles (fps, duration), its persons with their names
    and on-screen intervals, and every face; floats rounded to the millisecond (boxes to a thousandth of a px)."""
    persons: dict[str, dict] = {}
    for i in intervals:
        person = persons.setdefault(i.person_id, {"person_id": i.person_id, "name": i.name, "intervals": []})
        person["intervals"].append(
            {"title": i.title, "start_s": round(i.start_s, 3), "end_s": round(i.end_s, 3), "faces": i.faces}
        )
    for person in persons.values():
        person["seconds"] = round(sum(i["end_s"] - i["start_s"] for i in person["intervals"]), 3)
    return {
        "key": key,
        "titles": [
            {"title": t.title, "fps": round(t.fps, 3), "duration_s": round(t.duration_s, 3)} for t in timings.values()
        ],
        "persons": sorted(persons.values(), key=lambda p: -p["seconds"]),
        "faces": [_rounded(r) for r in rows],
    }
