"""A season's cast, made from its finished episodes' stored identities and kept in the season tables:
`season_persons`, `person_appearances`, `person_tracks` and the history `person_id_changes`.

The faces of each person are kept too (`seasons/<season>/person_faces.parquet`), so that the next linking
can match its persons to these on the faces they share, whatever else changed (a re-run, another stride
or detector, an episode added or deleted), and keep their ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vcn_resources.corrections import load_corrections, season_track_faces
from vcn_resources.pictures import write_person_pictures
from vcn_resources.results import (
    clustered_by,
    generic_embedder,
    kept_faces,
    load_episode_identities,
)
from vcn_resources.warehouse import Warehouse, write_parquet_atomic
from videoclusternet.boxes import match_faces
from videoclusternet.clustering import AUTO, CutReport, TrackFaces, clusterer_settings, make_clusterer
from videoclusternet.corrections import Constraints, constraints_of, effective
from videoclusternet.linking import IdChange, assign_person_ids, link_season, person_number
from videoclusternet.questions import person_pairs, suggested_questions
from videoclusternet.titles import cast_season

PERSON_FACES = "person_faces"
_BOX = ["x1", "y1", "x2", "y2"]


@dataclass
class SeasonCast:
    """What a linking made of a season."""

    season: str
    episodes: list[str]  # linked: the season's titles whose clustering has finished
    left_out: list[str]  # the season's other titles (failed, or still running)
    clusterer: str
    person_ids: list[str] = field(default_factory=list)  # most screen time first
    guests: int = 0
    changes: list[IdChange] = field(default_factory=list)
    cut: CutReport | None = None  # where and why the linking stopped merging, for the clusterers that say it


def season_episodes(warehouse: Warehouse, season: str) -> tuple[list[str], list[str]]:
    """The season's titles whose clustering has finished, and the others, by key."""
    titles = [s.info for s in warehouse.summaries() if cast_season(s.info.title) == season]
    done = [t.title for t in titles if t.status == "done" and "face_clusters" in t.stage_seconds]
    return done, [t.title for t in titles if t.title not in done]


def _common_embedder(warehouse: Warehouse, season: str, titles: list[str]) -> str:
    """The one generic model that embedded every episode: only such embeddings compare across episodes."""
    models = {title: generic_embedder(warehouse, title) for title in titles}
    used = {m for m in models.values() if m}
    if len(used) > 1:
        listed = ", ".join(f"{t} by {m}" for t, m in models.items())
        raise ValueError(
            f"season {season}: its episodes were embedded by different face models ({listed}); run them again with one"
        )
    return used.pop() if used else ""


def _previous_faces(warehouse: Warehouse, season: str) -> pa.Table | None:
    path = warehouse.season_dir(season) / f"{PERSON_FACES}.parquet"
    return pq.read_table(path) if path.exists() else None


def _next_number(warehouse: Warehouse, season: str, previous: list[str]) -> int:
    """One above every person number the season has ever given, so that an id never means two persons."""
    history = warehouse.read_title("person_id_changes", season)
    ever = [*previous]
    if history is not None:
        ever += [i for c in ("old_person_id", "new_person_id") for i in history.column(c).to_pylist() if i]
    return 1 + max((person_number(i) for i in ever), default=0)


def make_season_cast(
    warehouse: Warehouse, season: str, clusterer_name: str | None, threshold: float | None, run_id: str, version: str
) -> SeasonCast:
    """Link the season's finished episodes into persons, give them lasting ids and write the season tables.
    `clusterer_name` None: the clusterer that clustered the episodes (`vcn cluster` changes it), `auto` where
    they were clustered differently; a `threshold` given still applies."""
    episodes, left_out = season_episodes(warehouse, season)
    if clusterer_name is None:
        used = {clustered_by(warehouse, t) for t in episodes} - {None}
        clusterer_name, episodes_threshold = clusterer_settings(used.pop() if len(used) == 1 else AUTO)
        threshold = episodes_threshold if threshold is None else threshold
    _common_embedder(warehouse, season, episodes)  # only one model's embeddings compare across episodes
    clusterer = make_clusterer(clusterer_name, threshold)
    corrections = load_corrections(warehouse, season)
    constraints = constraints_of(corrections, season_track_faces(warehouse, episodes))
    linking = link_season([load_episode_identities(warehouse, t) for t in episodes], clusterer, constraints)
    person_of = {(t, int(k)): int(p) for t, k, p in zip(linking.title, linking.track, linking.person)}

    # Every kept face of the season (but those of tracks a correction set aside), with its episode, and its
    # person in the new linking.
    faces = {t: _linked(kept_faces(warehouse, t), t, person_of) for t in episodes}
    title = np.concatenate([np.full(len(f["face"]), t, object) for t, f in faces.items()] or [np.zeros(0, object)])
    frame = np.concatenate([f["frame"] for f in faces.values()] or [np.zeros(0, np.int64)])
    box = np.concatenate([f["box"] for f in faces.values()] or [np.zeros((0, 4))])
    label = np.array([person_of[(t, int(k))] for t, f in faces.items() for k in f["track"]], np.int64)
    step = {t: warehouse.require_title(t).frame_step_s for t in episodes}
    n_persons = int(linking.person.max()) + 1 if len(linking.person) else 0
    # Screen seconds per new person: its distinct frames, times each episode's frame step.
    seconds = np.zeros(n_persons)
    for t in episodes:
        at = title == t
        person_frames = np.unique(np.stack([label[at], frame[at]], axis=1), axis=0)
        seconds += np.bincount(person_frames[:, 0], minlength=n_persons) * step[t]
    order = np.argsort(-seconds, kind="stable")

    previous = _previous_faces(warehouse, season)
    old_ids = sorted(set(previous.column("person_id").to_pylist())) if previous is not None else []
    shared = np.zeros((n_persons, len(old_ids)), np.int64)
    if previous is not None and len(old_ids):
        names = sorted({*episodes, *previous.column("title").to_pylist()})
        index = {n: i for i, n in enumerate(names)}

        def keys(titles, frames) -> np.ndarray:
            return np.array([index[t] for t in titles], np.int64) * (1 << 32) + np.asarray(frames, np.int64)

        old_box = np.stack([previous.column(c).to_numpy() for c in _BOX], axis=1)
        old_frame = previous.column("frame").to_numpy()
        matched = match_faces(keys(previous.column("title").to_pylist(), old_frame), old_box, keys(title, frame), box)
        old_col = {o: i for i, o in enumerate(old_ids)}
        old_person = np.array([old_col[o] for o in previous.column("person_id").to_pylist()], np.int64)
        hit = matched >= 0
        np.add.at(shared, (label[hit], old_person[matched[hit]]), 1)
    ids, changes = assign_person_ids(season, shared[order], old_ids, _next_number(warehouse, season, old_ids))
    person_id = np.empty(n_persons, object)
    person_id[order] = ids

    names = _names(constraints, person_id, person_of)
    _write(warehouse, season, linking, faces, person_id, names, step, run_id, version)
    _write_status(warehouse, season, corrections, constraints, run_id, version)
    write_parquet_atomic(
        pa.table(
            {
                "title": title.tolist(),
                "frame": frame,
                **{c: box[:, i] for i, c in enumerate(_BOX)},
                "person_id": person_id[label].tolist(),
            }
        ),
        warehouse.season_dir(season) / f"{PERSON_FACES}.parquet",
    )
    if changes:
        now = dt.datetime.now(dt.UTC)
        warehouse.write(
            "person_id_changes",
            season,
            {
                "old_person_id": [c.old for c in changes],
                "new_person_id": [c.new for c in changes],
                "reason": [c.reason for c in changes],
                "changed_at": [now] * len(changes),
            },
            run_id,
            version,
            append=True,
        )
    episodes_of = {}
    for t, p in zip(linking.title, linking.person):
        episodes_of.setdefault(person_id[p], set()).add(t)
    guests = sum(1 for seen in episodes_of.values() if len(seen) == 1)
    return SeasonCast(season, episodes, left_out, clusterer.describe(), list(ids), guests, changes, linking.cut)


def _linked(faces: dict[str, np.ndarray], title: str, person_of: dict) -> dict[str, np.ndarray]:
    """The faces of the tracks the linking holds (a track a correction set aside is not among them)."""
    keep = np.array([(title, int(k)) in person_of for k in faces["track"]], bool)
    return {k: v[keep] for k, v in faces.items()}


def _names(constraints: Constraints, person_id: np.ndarray, person_of: dict) -> dict[str, str]:
    """Person id -> name: each name correction, in order, names the person holding most of its tracks."""
    names = {}
    for _, name, tracks in constraints.names:
        held = [person_id[person_of[t]] for t in tracks if t in person_of]
        if held:
            names[max(set(held), key=held.count)] = name
    return names


def _write_status(
    warehouse: Warehouse, season: str, corrections: list, constraints: Constraints, run_id: str, version: str
) -> None:
    """Per correction: whether it applies now, why not, and the run that first applied it."""
    before = warehouse.read_title("correction_status", season)
    first = {}
    if before is not None:
        first = dict(zip(before.column("correction_id").to_pylist(), before.column("first_applied_run_id").to_pylist()))
    # An undo applies once recorded: what it names stops applying.
    applies = {**constraints.applies, **{c.id: None for c in corrections if c.verb == "undo"}}
    ids = [c.id for c in corrections if c.id in applies]
    warehouse.write(
        "correction_status",
        season,
        {
            "correction_id": ids,
            "applies": [applies[i] is None for i in ids],
            "reason": [applies[i] for i in ids],
            "first_applied_run_id": [first.get(i) or (run_id if applies[i] is None else None) for i in ids],
        },
        run_id,
        version,
    )


def _write(
    warehouse: Warehouse,
    season: str,
    linking,
    faces: dict[str, dict[str, np.ndarray]],
    person_id: np.ndarray,
    names: dict[str, str],
    step: dict[str, float],
    run_id: str,
    version: str,
) -> None:
    """The season tables from a linking: tracks, appearances (per episode cluster), persons."""
    track_person = person_id[linking.person] if len(linking.person) else np.zeros(0, object)
    warehouse.write(
        "person_tracks",
        season,
        {"title": linking.title.tolist(), "track": linking.track, "person_id": track_person.tolist()},
        run_id,
        version,
    )
    pictures = write_person_pictures(warehouse, season, warehouse.season_dir(season) / "persons")
    cluster_of = {(t, int(k)): int(c) for t, k, c in zip(linking.title, linking.track, linking.cluster)}
    person_of_track = {(t, int(k)): p for t, k, p in zip(linking.title, linking.track, track_person)}
    appearances: dict[tuple[str, str, int], dict] = {}
    for t, f in faces.items():
        for k in np.unique(f["track"]):
            key = (person_of_track[(t, int(k))], t, cluster_of[(t, int(k))])
            row = appearances.setdefault(key, {"tracks": 0, "frames": set(), "faces": 0, "times": []})
            members = f["track"] == k
            row["tracks"] += 1
            row["faces"] += int(members.sum())
            row["frames"] |= set(f["frame"][members].tolist())
            row["times"] += [f["timestamp"][members].min(), f["timestamp"][members].max()]
    keys = sorted(appearances, key=lambda k: (k[0], k[1], k[2]))

    def seconds(k: tuple[str, str, int]) -> float:  # an appearance's screen seconds: its frames, times the step
        return len(appearances[k]["frames"]) * step[k[1]]

    warehouse.write(
        "person_appearances",
        season,
        {
            "person_id": [k[0] for k in keys],
            "title": [k[1] for k in keys],
            "cluster": [k[2] for k in keys],
            "tracks": [appearances[k]["tracks"] for k in keys],
            "faces": [appearances[k]["faces"] for k in keys],
            "seconds": [round(seconds(k), 3) for k in keys],
            "first_seen_s": [float(min(appearances[k]["times"])) for k in keys],
            "last_seen_s": [float(max(appearances[k]["times"])) for k in keys],
        },
        run_id,
        version,
    )
    persons: dict[str, list[tuple[str, int]]] = {}
    for k in keys:
        persons.setdefault(k[0], []).append(k)
    rows: dict[str, list] = {
        c: []
        for c in (
            "person_id",
            "name",
            "kind",
            "episodes",
            "tracks",
            "faces",
            "screen_seconds",
            "first_title",
            "first_seen_s",
            "last_title",
            "last_seen_s",
            "crop_path",
            "sheet_path",
        )
    }
    for pid in sorted(persons, key=lambda p: -sum(seconds(k) for k in persons[p])):
        own = persons[pid]
        titles = sorted({k[1] for k in own})
        first = min(own, key=lambda k: (k[1], min(appearances[k]["times"])))
        last = max(own, key=lambda k: (k[1], max(appearances[k]["times"])))
        rows["person_id"].append(pid)
        rows["name"].append(names.get(pid))
        rows["kind"].append("recurring" if len(titles) > 1 else "guest")
        rows["episodes"].append(len(titles))
        rows["tracks"].append(sum(appearances[k]["tracks"] for k in own))
        rows["faces"].append(sum(appearances[k]["faces"] for k in own))
        rows["screen_seconds"].append(round(sum(seconds(k) for k in own), 3))
        rows["first_title"].append(first[1])
        rows["first_seen_s"].append(float(min(appearances[first]["times"])))
        rows["last_title"].append(last[1])
        rows["last_seen_s"].append(float(max(appearances[last]["times"])))
        rows["crop_path"].append(warehouse.home_relative(pictures[pid].face) if pid in pictures else None)
        rows["sheet_path"].append(warehouse.home_relative(pictures[pid].sheet) if pid in pictures else None)
    warehouse.write("season_persons", season, rows, run_id, version)


def _joined(contexts: list[np.ndarray]) -> np.ndarray | None:
    """The episodes' track contexts as one array; None when an episode has none (detected before they were)."""
    if not contexts or any(c.shape[1] != contexts[0].shape[1] for c in contexts) or contexts[0].shape[1] < 2:
        return None
    return np.concatenate(contexts)


def season_questions(warehouse: Warehouse, season: str, limit: int = 50) -> list[dict]:
    """The season's suggested questions, most worthwhile first (`videoclusternet.questions`): "same person?" for
    two persons, or "is this track this person?", with the similarity, how likely the fixing answer is, and
    the worth of asking."""
    linked = warehouse.rows("person_tracks", season)
    episodes = sorted(set(linked["title"].tolist()))
    ids = sorted(set(linked["person_id"].tolist()))
    row_of = {pid: i for i, pid in enumerate(ids)}
    person_of_track = {(t, int(k)): row_of[p] for t, k, p in zip(linked["title"], linked["track"], linked["person_id"])}
    templates, contexts, faceness, track_keys, seen = [], [], [], [], set()
    for title in episodes:
        episode = load_episode_identities(warehouse, title)
        keep = np.array([(title, int(k)) in person_of_track for k in episode.tracks], bool)
        rows = np.searchsorted(episode.tracks, episode.face_track)
        templates.append(TrackFaces.from_embeddings(episode.embeddings, rows, len(episode.tracks)).templates()[keep])
        contexts.append(episode.context[keep])
        tracks = warehouse.rows("tracks", title)
        score = dict(zip(tracks["track"].tolist(), tracks["median_score"].tolist()))
        faceness.append([score[int(k)] for k in episode.tracks[keep]])
        track_keys += [(title, int(k)) for k in episode.tracks[keep]]
        seen |= {((title, a), (title, b)) for a, b in episode.cannot_link}
    corrections = load_corrections(warehouse, season)
    faces_index = season_track_faces(warehouse, episodes)
    told = constraints_of(corrections, faces_index).cannot_link  # a move or a rejection keeps them apart
    person = np.array([person_of_track[k] for k in track_keys], np.int64)
    track_rows = {k: i for i, k in enumerate(track_keys)}
    track_faces = np.zeros(len(track_keys))
    for title, track in zip(faces_index.title.tolist(), faces_index.track.tolist()):
        if (title, int(track)) in track_rows:
            track_faces[track_rows[(title, int(track))]] += 1
    answered, settled = set(), set()
    for c in effective(corrections):
        if c.verb not in ("confirm", "reject") or not all(p in row_of for p in c.arguments["persons"]):
            continue
        if "track" in c.arguments:
            (track,) = faces_index.find([c.arguments["track"]])
            settled |= {track_rows[track]} if track in track_rows else set()
        else:
            a, b = (row_of[p] for p in c.arguments["persons"][:2])
            answered.add((min(a, b), max(a, b)))

    def rows(pairs: set) -> list[tuple[int, int]]:
        return [(track_rows[a], track_rows[b]) for a, b in pairs if a in track_rows and b in track_rows]

    asked = suggested_questions(
        np.concatenate(templates) if templates else np.zeros((0, 1)),
        person,
        track_faces,
        person_pairs(rows(seen), person),
        answered | set(person_pairs(rows(told), person)),
        settled,
        limit,
        _joined(contexts),
        np.concatenate(faceness) if faceness else None,
    )
    return [
        {
            "kind": "pair" if q.track is None else "track",
            "person_a": ids[q.a],
            "person_b": ids[q.b] if q.track is None else None,
            "track": list(track_keys[q.track]) if q.track is not None else None,
            "similarity": round(q.similarity, 4),
            "likelihood": round(q.likelihood, 4),
            "worth": round(q.worth, 1),
        }
        for q in asked
    ]
