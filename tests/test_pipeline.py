"""End to end on a generated clip: real models, real Dagster materialisations, real DuckDB over Parquet."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vcn_dagster.operations import run_titles
from vcn_resources.exports import scorer_rows
from vcn_resources.results import StoredCrops
from vcn_resources.warehouse import Warehouse
from videoclusternet.boxes import iou_matrix
from videoclusternet.embedding import l2_normalise

TITLE = "clip"


def _con(processed):
    return Warehouse(processed.home).connect()


def test_good_title_done_and_bad_titles_failed_with_reason(processed):
    assert processed.outcome == {"clip": True, "broken_show.s01e02": False, "empty_show.s01e03": False}
    rows = dict(_con(processed).execute("SELECT title, status || ': ' || coalesce(error, '') FROM titles").fetchall())
    assert rows["clip"] == "done: "
    assert rows["broken_show.s01e02"].startswith("failed: frames:")
    assert str(processed.corrupt) in rows["broken_show.s01e02"]
    assert "empty" in rows["empty_show.s01e03"]
    con = _con(processed)
    for table in ("shots", "face_detections", "tracks", "cluster_assignments", "identities"):
        assert con.execute(f"SELECT count(*) FROM {table} WHERE title <> 'clip'").fetchone()[0] == 0


def test_people_come_back_as_that_many_clusters(processed):
    con = _con(processed)
    assert con.execute("SELECT count(*) FROM identities WHERE title = ?", [TITLE]).fetchone()[0] == len(
        processed.truth.identities
    )
    # Every truth face is found, and each person's faces land in one cluster of their own.
    faces = con.execute(
        "SELECT frame, x1, y1, x2, y2, cluster FROM detections WHERE title = ? AND track_status = 'kept'", [TITLE]
    ).fetchall()
    by_frame = defaultdict(list)
    for f, *box, c in faces:
        by_frame[f].append((box, c))
    votes: dict[str, Counter] = defaultdict(Counter)
    for t in processed.truth.faces:
        found = by_frame[t.frame_idx]
        ious = iou_matrix(np.array([[t.x1, t.y1, t.x2, t.y2]]), np.array([b for b, _ in found]))[0] if found else []
        assert len(found) and max(ious) >= 0.4, f"missed face of {t.identity} on frame {t.frame_idx}"
        votes[t.identity][found[int(np.argmax(ious))][1]] += 1
    clusters = {person: v.most_common(1)[0][0] for person, v in votes.items()}
    assert len(set(clusters.values())) == len(clusters)
    assert all(v.most_common(1)[0][1] / sum(v.values()) > 0.95 for v in votes.values())


def test_no_track_spans_a_cut_and_constraints_hold(processed):
    con = _con(processed)
    crossing = con.execute(
        """SELECT count(*) FROM tracks t JOIN shots s USING (title, shot)
           WHERE t.title = ? AND (t.first_frame < s.start_frame OR t.last_frame > s.end_frame)""",
        [TITLE],
    ).fetchone()[0]
    assert crossing == 0
    assert con.execute("SELECT count(*) FROM shots WHERE title = ?", [TITLE]).fetchone()[0] == len(
        processed.truth.shot_starts
    )
    shared = con.execute(
        """SELECT count(*) FROM detections a JOIN detections b
           ON a.title = b.title AND a.frame = b.frame AND a.track < b.track AND a.cluster = b.cluster
           WHERE a.title = ?""",
        [TITLE],
    ).fetchone()[0]
    assert shared == 0
    kept_without_cluster = con.execute(
        """SELECT count(*) FROM tracks t LEFT JOIN cluster_assignments c USING (title, track)
           WHERE t.title = ? AND t.status = 'kept' AND c.cluster IS NULL""",
        [TITLE],
    ).fetchone()[0]
    assert kept_without_cluster == 0


def test_rerun_replaces_rows(home_env):
    con = _con(home_env)
    tables = (
        "titles",
        "shots",
        "frames",
        "face_detections",
        "tracks",
        "adapted_models",
        "cluster_assignments",
        "identities",
    )
    before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    old_run = con.execute("SELECT DISTINCT run_id FROM tracks WHERE title = ?", [TITLE]).fetchall()
    old_version = con.execute("SELECT model_version FROM adapted_models WHERE title = ?", [TITLE]).fetchone()[0]
    assert run_titles([home_env.truth.path])[TITLE].success  # a title run with --adapt stays adapted
    con = _con(home_env)
    assert {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables} == before
    new_run = con.execute("SELECT DISTINCT run_id FROM tracks WHERE title = ?", [TITLE]).fetchall()
    assert len(new_run) == 1 and new_run != old_run
    # A re-run registers a new version of the series' adapted model, and clusters with it.
    new_version = con.execute("SELECT model_version FROM adapted_models WHERE title = ?", [TITLE]).fetchone()[0]
    assert int(new_version) == int(old_version) + 1
    used = con.execute("SELECT DISTINCT model_version FROM cluster_assignments WHERE title = ?", [TITLE]).fetchall()
    assert used == [(f"vcn-{TITLE}/{new_version}",)]
    # The runs are in the home's Dagster instance, as `dagster dev` will show them.
    instance = dg.DagsterInstance.get()
    events = instance.fetch_materializations(dg.AssetKey("face_clusters"), limit=10).records
    assert {e.partition_key for e in events} == {TITLE}
    assert len(events) == 2
    metadata = events[0].asset_materialization.metadata
    assert metadata["identities"].value == len(home_env.truth.identities)
    assert (
        metadata["clusterer"].value == "calibrated_link" and "pairs of different people" in metadata["stopped_by"].value
    )


def test_export_contract(home_env, tmp_path):
    rows = scorer_rows(Warehouse(home_env.home).connect(), TITLE)
    columns = ["frame_idx", "timestamp", "x1", "y1", "x2", "y2", "track_id", "cluster_id", "person_id", "name"]
    assert rows and list(rows[0]) == columns  # the season's person (a film is its own season) and its name last
    assert all((r["person_id"] is None) == (r["cluster_id"] is None) for r in rows)
    assert {r["person_id"] for r in rows if r["person_id"]} and all(
        r["person_id"].startswith(f"{TITLE}/p") for r in rows if r["person_id"]
    )
    out = tmp_path / "pred.csv"
    subprocess.run([sys.executable, "-m", "vcn_dagster.cli", "export", TITLE, "--out", str(out)], check=True)
    with open(out) as fh:
        read = list(csv.DictReader(fh))
    assert len(read) == len(rows)
    frames = [int(r["frame_idx"]) for r in read]
    assert frames == sorted(frames) and frames[0] >= 0
    as_json = subprocess.run(
        [sys.executable, "-m", "vcn_dagster.cli", "export", TITLE, "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert len(json.loads(as_json)["faces"]) == len(rows)


def test_sql_reader_does_not_block_runs(home_env, tmp_path):
    """A user holding the database file open (even read-write) must not make runs fail."""
    warehouse = Warehouse(home_env.home)
    warehouse.sync_views()
    user = duckdb.connect(str(warehouse.db_path))
    try:
        clip2 = tmp_path / "second.mp4"
        clip2.write_bytes(home_env.truth.path.read_bytes())
        procs = [
            subprocess.Popen([sys.executable, "-m", "vcn_dagster.cli", "run", str(p), "--title", key])
            for p, key in ((home_env.truth.path, "para_a"), (clip2, "para_b"))
        ]
        assert [p.wait(timeout=300) for p in procs] == [0, 0]
        assert user.execute("SELECT count(*) FROM titles WHERE title LIKE 'para_%'").fetchone()[0] == 2
    finally:
        user.close()
    con = warehouse.connect()
    counts = con.execute(
        "SELECT title, count(*) FROM identities WHERE title IN ('para_a', 'para_b', 'clip') GROUP BY 1"
    ).fetchall()
    assert sorted(n for _, n in counts) == [len(home_env.truth.identities)] * 3


def test_gpu_stages_carry_routing_tags():
    from vcn_assets.faces import face_detections, face_embeddings, face_tracks

    for asset in (face_detections, face_embeddings):
        assert asset.op.pool == "gpu"
        assert asset.op.tags["dagster-celery/queue"] == "gpu"
        assert "nvidia.com/gpu" in str(asset.op.tags["dagster-k8s/config"])
    assert face_tracks.op.pool is None


def test_evaluate_scores_and_keeps_history(home_env):
    from vcn_resources.evaluation import evaluate_title

    warehouse = Warehouse(home_env.home)
    truth_csv = home_env.home.parent / "clip.faces.csv"
    first = evaluate_title(warehouse, TITLE, truth_csv, "vcn evaluate").as_dict()
    assert first["detection_recall"] == 1.0
    assert first["face_bcubed_f"] == 1.0 and first["face_wcp"] == 1.0
    evaluate_title(warehouse, TITLE, truth_csv, "vcn evaluate")
    con = _con(home_env)
    spread = con.execute(  # each evaluation's per-identity rows
        "SELECT i.identity, i.found = i.faces, i.clusters, i.unclustered, i.largest_share, i.largest_purity "
        "FROM evaluation_identities i JOIN evaluations e USING (title, evaluation_id) "
        "WHERE title = ? AND e.run_id = 'vcn evaluate' ORDER BY i.evaluated_at, i.identity",
        [TITLE],
    ).fetchall()
    people = len(home_env.truth.identities)
    assert len(spread) == 2 * people and all(row[1:] == (True, 1, 0, 1.0, 1.0) for row in spread)
    rows = con.execute(
        "SELECT model_version, clusterer, face_bcubed_f FROM evaluations WHERE title = ? AND run_id = 'vcn evaluate' "
        "ORDER BY evaluated_at",
        [TITLE],
    ).fetchall()
    assert len(rows) == 2 and rows[0][0].startswith(f"vcn-{TITLE}/") and rows[0][1] == "calibrated_link"
    kept = con.execute(  # every figure, also those without a column of their own
        "SELECT figures FROM evaluations WHERE title = ? AND run_id = 'vcn evaluate'", [TITLE]
    ).fetchone()[0]
    assert json.loads(kept) == first


def test_truth_next_to_the_video_is_checked_on_every_run(home_env):
    # conftest writes the clip's truth as clip.faces.csv beside clip.mp4: the run scored itself.
    instance = dg.DagsterInstance.get()
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("face_clusters"), asset_partitions=[TITLE]), limit=1
    ).records[0]
    events = instance.all_logs(latest.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    (evaluation,) = [
        e.dagster_event.asset_check_evaluation_data
        for e in events
        if e.dagster_event.asset_check_evaluation_data.check_name == "face_clusters_match_truth"
    ]
    assert evaluation.passed and evaluation.metadata["face_bcubed_f"].value == 1.0
    assert evaluation.metadata["most_split_identity"].value.endswith(": 1 clusters, 0 unclustered")
    stored = (
        _con(home_env)
        .execute("SELECT count(*) FROM evaluations WHERE title = ? AND run_id = ?", [TITLE, latest.run_id])
        .fetchone()
    )
    assert stored == (1,)


def test_truth_is_found_beside_its_video_only(tmp_path):
    from vcn_assets.evaluation import shortfalls
    from vcn_resources.evaluation import truth_file_for

    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").touch()
    assert truth_file_for(folder / "a.mp4") is None
    (folder / "faces.csv").touch()
    assert truth_file_for(folder / "a.mp4") == folder / "faces.csv"  # one video: the folder's truth is its own
    (folder / "b.ts").touch()
    assert truth_file_for(folder / "a.mp4") is None  # two videos: faces.csv could be either's
    (folder / "a.faces.csv").touch()
    assert truth_file_for(folder / "a.mp4") == folder / "a.faces.csv"
    good = {"face_bcubed_f": 0.96, "face_wcp": 0.98, "detection_recall": 0.95, "face_cluster_ratio": 1.0}
    assert shortfalls(good) == []
    assert shortfalls({**good, "face_wcp": 0.9, "face_cluster_ratio": 1.5}) == [
        "face_wcp 0.900 < 0.97",
        "face_cluster_ratio 1.50 outside 0.9..1.3",
    ]


def test_recluster_keeps_the_titles_embeddings_prints_what_it_found_and_drops_old_pictures(home_copy, capsys):
    from vcn_dagster.cli import main

    def assignments() -> tuple[set, int, set]:
        con = Warehouse(home_copy).connect()
        versions = {
            v
            for (v,) in con.execute(
                "SELECT DISTINCT model_version FROM cluster_assignments WHERE title = ?", [TITLE]
            ).fetchall()
        }
        crops = {
            Path(p).name for (p,) in con.execute("SELECT crop_path FROM identities WHERE title = ?", [TITLE]).fetchall()
        }
        return versions, len(crops), crops

    versions, people, _ = assignments()
    assert len(versions) == 1 and versions.pop().startswith(f"vcn-{TITLE}/")  # the run adapted the model
    # Everything merges that may: fewer clusters than people, and the truth check beside the video says so.
    main(["cluster", TITLE, "--clusterer", "average_link", "--threshold", "-1"])  # exit status 0: no SystemExit
    versions, merged, crops = assignments()
    assert versions.pop().startswith(f"vcn-{TITLE}/") and merged < people  # still the adapted model's embeddings
    assert {p.name for p in (home_copy / "titles" / TITLE / "identities").glob("*.jpg")} == crops
    out = capsys.readouterr().out
    assert (
        f"identities: {merged}" in out
        and "warning: face_clusters check face_clusters_match_truth: face_bcubed_f" in out
    )
    main(["cluster", TITLE, "--no-adapt"])
    assert assignments()[0].pop().startswith("sface:")


def test_recluster_refuses_unknown_titles_misplaced_thresholds_and_a_missing_adapted_model(home_copy, capsys):
    from vcn_dagster.cli import main

    with pytest.raises(SystemExit, match="title 'nosuch' is unknown"):
        main(["cluster", "nosuch"])
    with pytest.raises(SystemExit, match="--threshold is a setting of average_link only, not of hdbscan"):
        main(["cluster", TITLE, "--clusterer", "hdbscan", "--threshold", "0.4"])
    warehouse = Warehouse(home_copy)
    # Adapted embeddings of other faces than the title has now (its face stages re-ran without adaptation).
    adapted = warehouse.read_artifact(TITLE, "adapted_embeddings")
    warehouse.write_artifact(TITLE, "adapted_embeddings", adapted.slice(1).to_pydict())
    for missing in (False, True):
        if missing:
            (home_copy / "titles" / TITLE / "adapted_embeddings.parquet").unlink()
        with pytest.raises(SystemExit) as exit_code:
            main(["cluster", TITLE])  # the title's clusters were made with its adapted model: so these too
        assert exit_code.value.code == 1
        assert f"title '{TITLE}' has no adapted model made from its current faces" in capsys.readouterr().err
    status = Warehouse(home_copy).connect().execute("SELECT status FROM titles WHERE title = ?", [TITLE])
    assert status.fetchone() == ("done",)  # a wrong setting, not a bad title


def test_titles_lists_the_home_and_delete_forgets_a_title_but_not_the_others(home_copy, capsys):
    from vcn_dagster.cli import main
    from vcn_resources.schemas import TABLES
    from vcn_resources.warehouse import SEASON_TABLES

    con = Warehouse(home_copy).connect()
    people = con.execute("SELECT count(*) FROM identities WHERE title = ?", [TITLE]).fetchone()[0]
    main(["titles"])
    listed = {line.split("\t")[0]: line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]}
    assert listed[TITLE][1] == "done" and int(listed[TITLE][4]) == people and listed[TITLE][5] == "yes"
    broken = listed["broken_show.s01e02"]
    assert broken[1] == "failed" and broken[5] == "yes" and "not a decodable video" in broken[6]  # all ran --adapt

    main(["delete", TITLE])
    con = Warehouse(home_copy).connect()
    by_title = [t for t in TABLES if t not in SEASON_TABLES]
    left = {t: con.execute(f"SELECT count(*) FROM {t} WHERE title = ?", [TITLE]).fetchone()[0] for t in by_title}
    assert left == dict.fromkeys(by_title, 0)  # evaluations and the titles row included
    # The title was a season of its own: its cast is linked again, from no episodes; the id history stays.
    cast = ("season_persons", "person_appearances", "person_tracks")
    assert {t: con.execute(f"SELECT count(*) FROM {t} WHERE season = ?", [TITLE]).fetchone()[0] for t in cast} == (
        dict.fromkeys(cast, 0)
    )
    assert con.execute("SELECT count(*) FROM titles").fetchone()[0] == len(listed) - 1
    assert not (home_copy / "titles" / TITLE).exists() and not (home_copy / "media" / f"{TITLE}.json").exists()
    assert not dg.DagsterInstance.get().has_dynamic_partition("titles", TITLE)
    with pytest.raises(SystemExit, match=f"title '{TITLE}' is unknown"):
        main(["delete", TITLE])


def test_stored_crops_are_read_a_row_group_at_a_time_in_any_order(tmp_path: Path):
    jpegs = [bytes([i]) * (i + 1) for i in range(10)]
    path = tmp_path / "faces.parquet"
    pq.write_table(pa.table({"face": np.arange(10), "crop_jpeg": jpegs}), path, row_group_size=3)
    crops = StoredCrops(path)
    assert len(crops) == 10 and [crops[i] for i in range(10)] == jpegs
    assert [crops[i] for i in (9, 0, 4, 4)] == [jpegs[9], jpegs[0], jpegs[4], jpegs[4]]
    with pytest.raises(IndexError, match="face 10 is not in 10 stored faces"):
        crops[10]


def test_faces_decoded_a_chunk_at_a_time_embed_the_same(home_copy, monkeypatch):
    """A long title's faces are decoded and embedded in chunks, the quality probes of `face_tracks` and the
    faces of `face_embeddings`: any chunk size gives the same embeddings."""
    import vcn_assets.faces
    import videoclusternet.pipeline
    from vcn_dagster.definitions import all_assets, build_resources

    warehouse = Warehouse(home_copy)
    artifacts = ("probe_embeddings", "embeddings")
    before = {name: warehouse.read_artifact(TITLE, name) for name in artifacts}
    monkeypatch.setattr(videoclusternet.pipeline, "DECODE_CHUNK", 7)
    result = dg.materialize(
        all_assets,
        selection=[vcn_assets.faces.face_tracks.key, vcn_assets.faces.face_embeddings.key],
        partition_key=TITLE,
        instance=dg.DagsterInstance.get(),
        resources=build_resources(home_copy),
    )
    assert result.success
    for name in artifacts:
        after = warehouse.read_artifact(TITLE, name)
        assert len(before[name]) > 7 and after.column("face").equals(before[name].column("face")), name
        np.testing.assert_allclose(
            np.stack(after.column("raw").to_numpy(zero_copy_only=False)),
            np.stack(before[name].column("raw").to_numpy(zero_copy_only=False)),
            atol=1e-5,
        )


def test_a_faces_embedding_adds_its_mirror_images_unless_turned_off(home_copy):
    """By default a face's embedding is its crop's plus its mirror image's, an embedding of the same face; with
    `mirror` off it is the crop's alone (the quality probe's, reused)."""
    import vcn_assets.faces
    from vcn_dagster.definitions import all_assets, build_resources

    warehouse = Warehouse(home_copy)

    def embeddings(name: str) -> dict[int, np.ndarray]:
        table = warehouse.read_artifact(TITLE, name)
        return dict(zip(table.column("face").to_pylist(), table.column("raw").to_numpy(zero_copy_only=False)))

    both, probes = embeddings("embeddings"), embeddings("probe_embeddings")
    probed = sorted(set(both) & set(probes))
    result = dg.materialize(
        all_assets,
        selection=[vcn_assets.faces.face_embeddings.key],
        partition_key=TITLE,
        instance=dg.DagsterInstance.get(),
        resources=build_resources(home_copy),
        run_config={"ops": {"face_embeddings": {"config": {"mirror": False}}}},
    )
    assert result.success
    assert result.asset_materializations_for_node("face_embeddings")[0].metadata["mirror"].value is False
    upright = embeddings("embeddings")
    assert probed and all(np.array_equal(upright[f], probes[f]) for f in probed)
    mirror = np.stack([both[f] - upright[f] for f in probed])
    cosine = np.einsum("ij,ij->i", l2_normalise(mirror), l2_normalise(np.stack([upright[f] for f in probed])))
    assert np.median(cosine) > 0.5  # the mirror image is the same face


def test_every_stage_logs_its_progress_with_a_rate(home_env):
    """A run launched from the UI shows no terminal: each stage's progress (count, rate) is in the run's log."""
    instance = dg.DagsterInstance.get()
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("face_embeddings"), asset_partitions=[TITLE]), limit=1
    ).records[0]
    messages = [entry.user_message for entry in instance.all_logs(latest.run_id)]
    for what, unit in (
        ("frames", "frame"),
        ("faces", "frame"),
        ("tracks: faces probed", "face"),
        ("embeddings", "face"),
    ):
        lines = [m for m in messages if m.startswith(f"{TITLE} {what}: ")]
        assert lines and f" {unit}s/s" in lines[-1], (what, [m for m in messages if TITLE in m][:20])
