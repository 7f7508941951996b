"""Corrections end to end, on a composed title: a merge and a name survive re-clustering with another
clusterer and a re-run of `vcn run`, and show in `vcn people` and the exports; a move and a not-a-face hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dagster as dg
import pytest

from vcn_dagster.cli import main
from vcn_dagster.operations import run_titles
from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import compose_clip

pytestmark = pytest.mark.slow
TITLE, SEASON = "show.s01e01", "show.s01"
SCRIPT = ((1.2, ("person_0", "tom_hanks")), (1.2, ("person_1",)), (1.2, ("tom_hanks", "person_1")))


@pytest.fixture(scope="module")
def title(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("corrections")
    clip = compose_clip(root / "show_s01e01.mp4", fps=10, script=SCRIPT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(root / "home"))
        assert run_titles([clip.path])[TITLE].success
    return root / "home", clip.path


@pytest.fixture
def home(title, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("VCN_HOME", str(title[0]))
    monkeypatch.setenv("DAGSTER_HOME", str(title[0] / "dagster"))
    return title


def _people(capsys) -> list[dict]:
    capsys.readouterr()
    main(["people", TITLE, "--format", "json"])
    return json.loads(capsys.readouterr().out)


def _person_of_tracks(home: Path) -> dict[tuple[str, int], str]:
    rows = Warehouse(home).connect().execute("SELECT title, track, person_id FROM person_tracks").fetchall()
    return {(t, k): p for t, k, p in rows}


def _season_clusterer() -> tuple[str, str]:
    """The clusterer of the season's latest linking and what stopped its merging, from its materialisation."""
    records = dg.DagsterInstance.get().fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("season_cast"), asset_partitions=[SEASON]), limit=1
    )
    metadata = records.records[0].asset_materialization.metadata
    return metadata["clusterer"].value, metadata["stopped_by"].value


def test_a_merge_and_a_name_survive_another_clusterer_and_a_rerun(home, capsys):
    folder, video = home
    first, second, *_ = _people(capsys)
    main(["merge", TITLE, first["person_id"], second["person_id"]])
    main(["name", TITLE, first["person_id"], "Ada"])
    merged = {tuple(t) for t in first["tracks"] + second["tracks"]}
    for again, clusterer in (
        (["cluster", TITLE, "--clusterer", "cooccurrence_cut"], "cooccurrence_cut"),
        (["run", str(video)], "calibrated_link"),
    ):
        main(again)
        used, stopped_by = _season_clusterer()
        assert used == clusterer and stopped_by  # the season's persons follow the episode's clusterer
        people = _people(capsys)
        (ada,) = [p for p in people if p["name"] == "Ada"]
        assert merged <= {tuple(t) for t in ada["tracks"]}
        assert len({_person_of_tracks(folder)[t] for t in merged}) == 1
    con = Warehouse(folder).connect()
    assert con.execute("SELECT count(*) FROM cast_list WHERE name = 'Ada'").fetchone()[0] >= 1
    assert con.execute("SELECT count(*) FROM corrections WHERE scope = ? AND applies", [SEASON]).fetchone()[0] == 2


def test_a_move_to_a_new_person_and_a_not_a_face_hold_and_undo_takes_one_back(home, capsys):
    folder, _ = home
    people = _people(capsys)
    donor = max(people, key=lambda p: len(p["tracks"]))
    moved, dropped = donor["tracks"][0], donor["tracks"][-1]
    main(["move", TITLE, moved[0], str(moved[1]), "new"])
    main(["not-a-face", TITLE, dropped[0], str(dropped[1])])
    after = _person_of_tracks(folder)
    assert after[tuple(moved)] not in {after.get(tuple(t)) for t in donor["tracks"][1:-1]}
    assert tuple(dropped) not in after
    con = Warehouse(folder).connect()
    cluster = con.execute("SELECT cluster FROM cluster_assignments WHERE title = ? AND track = ?", dropped).fetchone()
    assert cluster == (None,)  # the title's own clustering set it aside too
    (undo_id,) = con.execute("SELECT max(id) FROM corrections WHERE verb = 'not_a_face'").fetchone()
    main(["undo", TITLE, str(undo_id)])
    assert tuple(dropped) in _person_of_tracks(folder)
    capsys.readouterr()
    main(["corrections", TITLE])
    listing = capsys.readouterr().out
    assert f"{undo_id}\tnot_a_face" in listing and "undone" in listing


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The title with faces on every 5th frame only: the shots of 12 or 13 frames give tracks of 2 or 3 faces,
    so some are set aside as too short."""
    root = tmp_path_factory.mktemp("sparse")
    clip = compose_clip(root / "show_s01e01.mp4", fps=10, script=SCRIPT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(root / "home"))
        assert run_titles([clip.path], stride=5)[TITLE].success
    return root / "home"


def test_a_track_from_the_unknown_bucket_is_rescued_to_a_person(sparse: Path, monkeypatch, capsys):
    """A move of a track outside the cast rescues it: one a person called not a face, and one the quality filter
    set aside (the title is tracked again and the track kept; an undo sets it aside again)."""
    monkeypatch.setenv("VCN_HOME", str(sparse))
    monkeypatch.setenv("DAGSTER_HOME", str(sparse / "dagster"))
    folder = sparse
    people = _people(capsys)
    donor, target = people[0], people[-1]
    track = donor["tracks"][0]
    main(["not-a-face", TITLE, track[0], str(track[1])])
    assert tuple(track) not in _person_of_tracks(folder)
    main(["move", TITLE, track[0], str(track[1]), target["person_id"]])  # rescued, to another person
    after = _person_of_tracks(folder)
    assert after[tuple(track)] == after[tuple(target["tracks"][0])]
    con = Warehouse(folder).connect()
    set_aside = con.execute("SELECT track, status FROM tracks WHERE title = ? AND status <> 'kept'", [TITLE])
    rescued, verdict = set_aside.fetchall()[0]
    main(["move", TITLE, TITLE, str(rescued), "new"])
    status, reason = con.execute(
        "SELECT status, reason FROM tracks WHERE title = ? AND track = ?", [TITLE, rescued]
    ).fetchone()
    assert status == "kept" and reason.startswith("rescued by correction")
    assert (TITLE, rescued) in _person_of_tracks(folder)
    (last,) = con.execute("SELECT max(id) FROM corrections WHERE verb = 'move'").fetchone()
    main(["undo", TITLE, str(last)])
    status = con.execute("SELECT status FROM tracks WHERE title = ? AND track = ?", [TITLE, rescued]).fetchone()
    assert status == (verdict,) and (TITLE, rescued) not in _person_of_tracks(folder)


def test_a_title_run_at_a_stride_exports_the_frames_its_tracks_stepped_over(sparse: Path, monkeypatch, tmp_path):
    """At --stride 5 a track's faces lie 5 frames apart: the export fills the frames between two of them with
    boxes in between, under the same track and person; `--detected-only` lists the detected faces alone."""
    monkeypatch.setenv("VCN_HOME", str(sparse))
    monkeypatch.setenv("DAGSTER_HOME", str(sparse / "dagster"))
    exported = {}
    for name, flag in (("every", []), ("detected", ["--detected-only"])):
        main(["export", TITLE, "--out", str(tmp_path / f"{name}.csv"), *flag])
        with open(tmp_path / f"{name}.csv", newline="") as fh:
            exported[name] = [tuple(r.items()) for r in csv.DictReader(fh)]
    detected, every = set(exported["detected"]), [dict(r) for r in exported["every"]]
    assert detected < set(exported["every"])
    tracks: dict[str, list[dict]] = {}
    for row in every:
        tracks.setdefault(row["track_id"], []).append(row)
    filled = 0
    for track in tracks.values():
        assert len({r["person_id"] for r in track}) == 1
        steps = [int(b["frame_idx"]) - int(a["frame_idx"]) for a, b in zip(track, track[1:])]
        assert not [s for s in steps if 1 < s <= 5]  # every frame the track stepped over is there
        for a, b, c in zip(track, track[1:], track[2:]):
            if tuple(b.items()) not in detected:
                filled += 1
                assert (
                    min(float(a["x1"]), float(c["x1"])) - 0.01
                    <= float(b["x1"])
                    <= max(float(a["x1"]), float(c["x1"])) + 0.01
                )
    assert filled
