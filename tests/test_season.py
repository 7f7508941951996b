"""One cast per season, end to end on a generated season: three episodes composed from packaged face photos,
three people in several of them and a guest in one; `vcn run` links them, and the ids last."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from vcn_dagster.cli import main
from vcn_dagster.operations import delete_title, run_titles
from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import ClipTruth, compose_clip

SEASON = "show.s01"
SCRIPTS = {
    "show.s01e01": ((1.2, ("person_0", "tom_hanks")), (1.2, ("person_1",)), (1.2, ("tom_hanks", "person_1"))),
    "show.s01e02": ((1.2, ("person_0", "person_1")), (1.2, ("tom_hanks",)), (1.2, ("person_2",))),
    "show.s01e03": ((1.2, ("tom_hanks", "person_0")), (1.2, ("person_1",))),
}


@dataclass
class SeasonHome:
    home: Path
    truth: dict[str, ClipTruth]


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> SeasonHome:
    root = tmp_path_factory.mktemp("season")
    truth = {}
    for title, script in SCRIPTS.items():
        video = root / f"{title.replace('.', '_')}.mp4"  # show_s01e01.mp4: its key is show.s01e01
        truth[title] = compose_clip(
            video, fps=10, script=script, seed=len(truth), truth_csv=video.with_suffix(".faces.csv")
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(root / "home"))
        outcome = run_titles([t.path for t in truth.values()])
    assert all(run.success for run in outcome.values())
    return SeasonHome(root / "home", truth)


@pytest.fixture
def home(season: SeasonHome, monkeypatch: pytest.MonkeyPatch) -> SeasonHome:
    monkeypatch.setenv("VCN_HOME", str(season.home))
    monkeypatch.setenv("DAGSTER_HOME", str(season.home / "dagster"))
    return season


def _persons(home: Path) -> dict[str, tuple]:
    con = Warehouse(home).connect()
    rows = con.execute("SELECT person_id, kind, episodes FROM season_persons WHERE season = ?", [SEASON]).fetchall()
    return {r[0]: r[1:] for r in rows}


def _track_persons(home: Path) -> dict[tuple[str, int], str]:
    con = Warehouse(home).connect()
    rows = con.execute("SELECT title, track, person_id FROM person_tracks WHERE season = ?", [SEASON]).fetchall()
    return {(t, k): p for t, k, p in rows}


def _true_persons(home: Path, truth: dict[str, ClipTruth]) -> dict[str, set[str]]:
    """Per true identity, the person ids its faces carry (faces matched to the truth by frame and box centre)."""
    con = Warehouse(home).connect()
    found: dict[str, set[str]] = {}
    for title, clip in truth.items():
        faces = con.execute(
            "SELECT frame, x1, y1, x2, y2, person_id FROM detections WHERE title = ? AND person_id IS NOT NULL",
            [title],
        ).fetchall()
        for frame, x1, y1, x2, y2, person in faces:
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            for f in clip.faces:
                if f.frame_idx == frame and f.x1 <= cx <= f.x2 and f.y1 <= cy <= f.y2:
                    found.setdefault(f.identity, set()).add(person)
    return found


def test_each_person_of_the_season_is_one_person_and_the_guest_is_a_guest(home: SeasonHome):
    persons = _persons(home.home)
    assert len(persons) == 4
    by_identity = _true_persons(home.home, home.truth)
    assert set(by_identity) == {"person_0", "person_1", "person_2", "tom_hanks"}
    assert all(len(ids) == 1 for ids in by_identity.values())
    (guest,) = by_identity["person_2"]
    assert persons[guest] == ("guest", 1)
    recurring = [persons[next(iter(by_identity[i]))] for i in ("person_0", "person_1", "tom_hanks")]
    assert recurring == [("recurring", 3)] * 3


def test_the_asset_graph_puts_the_season_downstream_of_the_clusters():
    from vcn_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("face_clusters") in graph.get(dg.AssetKey("season_cast")).parent_keys


def test_screen_seconds_per_person_per_episode_in_one_query(home: SeasonHome, capsys):
    query = (
        "SELECT a.person_id, a.title, sum(a.seconds) AS seconds FROM person_appearances a "
        f"WHERE a.season = '{SEASON}' GROUP BY ALL ORDER BY a.person_id, a.title"
    )
    main(["sql", query])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "person_id\ttitle\tseconds" and len(lines) == 1 + 3 * 3 + 1  # 3 people in 3 episodes, a guest


def test_season_and_title_exports_carry_the_person(home: SeasonHome, tmp_path: Path):
    out = tmp_path / "season.csv"
    main(["export", SEASON, "--out", str(out)])
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "title",
        "frame_idx",
        "timestamp",
        "x1",
        "y1",
        "x2",
        "y2",
        "track_id",
        "cluster_id",
        "person_id",
        "name",
    ]
    assert {r["title"] for r in rows} == set(SCRIPTS)
    assert all(r["person_id"].startswith(f"{SEASON}/p") for r in rows if r["cluster_id"])
    title_out = tmp_path / "e01.csv"
    main(["export", "show.s01e01", "--out", str(title_out)])
    with open(title_out, newline="") as fh:
        assert next(csv.reader(fh))[-3:] == ["cluster_id", "person_id", "name"]


def test_the_season_scores_as_one_item_set(home: SeasonHome, capsys):
    main(["evaluate", SEASON])  # the truth beside each episode's video
    figures = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line and "  " in line[:41])
    assert float(figures["face_bcubed_f"]) == 1.0 and int(figures["face_n_clusters_pred"]) == 4
    con = Warehouse(home.home).connect()
    assert con.execute("SELECT count(*) FROM evaluations WHERE title = ?", [SEASON]).fetchone()[0] == 1


def test_a_rerun_changes_no_id_a_new_episode_keeps_them_and_a_deleted_one_leaves_the_others(
    home: SeasonHome, tmp_path: Path
):
    before, changes = _track_persons(home.home), _changes(home.home)
    assert run_titles([home.truth["show.s01e02"].path])["show.s01e02"].success
    assert _track_persons(home.home) == before and _changes(home.home) == changes
    e04 = compose_clip(tmp_path / "show_s01e04.mp4", fps=10, seed=9, script=((1.2, ("person_1", "tom_hanks")),))
    assert run_titles([e04.path])["show.s01e04"].success
    grown = _track_persons(home.home)
    assert {k: v for k, v in grown.items() if k[0] != "show.s01e04"} == before
    assert {v for k, v in grown.items() if k[0] == "show.s01e04"} <= set(before.values())  # no new person
    delete_title("show.s01e04")
    guest = next(iter(_true_persons(home.home, home.truth)["person_2"]))
    delete_title("show.s01e02")
    after = _track_persons(home.home)
    assert after == {k: v for k, v in before.items() if k[0] != "show.s01e02"}
    assert guest not in _persons(home.home)
    assert (guest, None) in {(old, new) for old, new, _ in _changes(home.home)[len(changes) :]}


def _changes(home: Path) -> list[tuple]:
    con = Warehouse(home).connect()
    return con.execute(
        "SELECT old_person_id, new_person_id, reason FROM person_id_changes WHERE season = ? ORDER BY changed_at, "
        "new_person_id, old_person_id",
        [SEASON],
    ).fetchall()


def test_the_sensor_asks_for_the_season_of_an_episode_clustered_anew(home: SeasonHome):
    from vcn_dagster.definitions import all_assets, build_resources, defs
    from vcn_dagster.sensors import season_cast_sensor

    def tick(instance: dg.DagsterInstance) -> dg.SensorResult | dg.SkipReason:
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            return season_cast_sensor(context)

    instance = dg.DagsterInstance.get()
    assert isinstance(tick(instance), dg.SkipReason) or not tick(instance).run_requests  # `vcn run` linked it
    result = dg.materialize(  # clustered again from the UI, say: the season's cast is now older
        all_assets,
        selection=[dg.AssetKey("face_clusters")],
        partition_key="show.s01e03",
        instance=instance,
        resources=build_resources(home.home),
    )
    assert result.success
    (request,) = tick(instance).run_requests
    assert request.partition_key == SEASON and request.job_name in (None, "season_cast_job")
