"""Asset checks: they pass on the processed clip, each rule catches its kind of broken data, and a failed
blocking check stops the title's later stages and marks the title failed."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vcn_assets import checks_common as rules
from vcn_assets.faces import face_detections, face_tracks
from vcn_dagster.definitions import all_assets, all_checks, build_resources
from vcn_resources.warehouse import Warehouse

TITLE = "clip"
CHECKS = {
    "frames": {"frames_decoded_and_cut", "frames_match_the_container"},
    "face_detections": {"boxes_inside_frame", "title_has_faces"},
    "face_tracks": {"tracks_within_shots"},
    "face_embeddings": {"kept_tracks_embedded"},
    "adapted_model": {"adapted_model_registered"},
    "adapted_embeddings": {"adapted_embeddings_complete"},
    "face_clusters": {"one_cluster_per_kept_track", "cooccurring_tracks_apart", "face_clusters_match_truth"},
    "season_cast": {"every_kept_track_has_one_person"},
}
WARNINGS = {
    "title_has_faces",
    "face_clusters_match_truth",
    "frames_match_the_container",
}  # non-blocking: they warn, nothing downstream waits


@pytest.fixture(scope="module")
def rows(processed):
    """The processed clip's rows, table by table; tests break copies of them."""
    warehouse = Warehouse(processed.home)
    tables = ("titles", "frames", "shots", "face_detections", "face_track_members", "tracks", "track_clusters")
    return {t: warehouse.rows(t, TITLE) for t in (*tables, "identities")}


def _copy(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in table.items()}


def test_every_asset_has_its_checks_and_blocking_ones_are_errors():
    found = {}
    for checks in all_checks:
        for spec in checks.check_specs:
            found.setdefault(spec.asset_key.to_user_string(), set()).add(spec.name)
            assert spec.partitions_def is not None
            assert spec.blocking == (spec.name not in WARNINGS)
    assert found == CHECKS


def test_checks_ran_and_passed_in_vcn_run(processed):
    """`vcn run` (the fixture) evaluated every check on the clip, per title partition, and all passed."""
    events = []
    with dg.DagsterInstance.from_config(str(processed.home / "dagster")) as instance:
        # The title's stages run in one run; its season's cast (a title without an episode number is a season of
        # its own) in another, asked for once the clusters are done.
        for asset in ("face_clusters", "season_cast"):
            latest = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[TITLE]), limit=1
            ).records[0]
            events += instance.all_logs(latest.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [e.dagster_event.asset_check_evaluation_data for e in events]
    ran = {}
    for ev in evaluations:
        ran.setdefault(ev.asset_key.to_user_string(), set()).add(ev.check_name)
        assert ev.passed and ev.partition == TITLE, (ev.check_name, ev.metadata["problems"].value)
    assert ran == CHECKS


def test_sound_rows_have_no_problems(rows):
    video = rows["titles"]
    assert rules.shot_problems(rows["frames"], rows["shots"]) == []
    width, height = int(video["width"][0]), int(video["height"][0])
    assert rules.box_problems(rows["face_detections"], width, height, rows["frames"]["frame"]) == []
    frame = rows["face_detections"]["frame"]
    assert rules.track_problems(frame, rows["face_track_members"], rows["tracks"], rows["shots"]) == []
    assert rules.cooccurrence_problems(frame, rows["face_track_members"]["track"], rows["track_clusters"]) == []
    kept = rows["tracks"]["track"][rows["tracks"]["status"] == "kept"]
    assert rules.assignment_problems(kept, rows["track_clusters"], rows["identities"]) == []


def test_box_outside_the_frame_or_bad_landmarks(rows):
    video = rows["titles"]
    width, height = int(video["width"][0]), int(video["height"][0])
    detections = _copy(rows["face_detections"])
    detections["x2"][3] = width + 4
    detections["y1"][5] = detections["y2"][5]  # an empty box
    detections["landmarks"] = np.stack(detections["landmarks"])
    detections["landmarks"][8, 2] = np.nan
    problems = rules.box_problems(detections, width, height, rows["frames"]["frame"])
    assert problems == [
        f"boxes outside the {width}x{height} frame or empty: faces 2 (3, 5)",
        "landmarks or scores not finite: faces 1 (8)",
    ]
    assert rules.no_faces_problems(0) and not rules.no_faces_problems(1)


def test_shots_must_tile_the_video(rows):
    assert rules.shot_problems({k: v[:0] for k, v in rows["frames"].items()}, rows["shots"]) == ["no frames decoded"]
    shots = _copy(rows["shots"])
    shots["start_frame"][2] += 3  # a gap between shots 1 and 2
    problems = rules.shot_problems(rows["frames"], shots)
    assert problems[0].startswith("shots that do not follow on from the one before: 1 (2)")
    assert problems[1].startswith("manifest frames outside the shot they name: 3 (")


def test_track_across_a_cut_and_two_faces_on_one_frame(rows):
    frame = rows["face_detections"]["frame"].copy()
    members, tracks = _copy(rows["face_track_members"]), _copy(rows["tracks"])
    # Stretch track 0 one frame into the next shot, and give track 1 a second face on a frame it has.
    last = int(np.flatnonzero(members["track"] == 0)[-1])
    frame[last] = rows["shots"]["end_frame"][0] + 1
    tracks["last_frame"][tracks["track"] == 0] += 1
    other = int(np.flatnonzero(members["track"] == 2)[0])
    members["track"][other] = 1
    problems = rules.track_problems(frame, members, tracks, rows["shots"])
    assert "tracks with two faces on one frame: 1 (1)" in problems
    assert "tracks crossing a shot cut: 1 (0)" in problems
    assert "tracks whose face count differs from their members: 2 (1, 2)" in problems


def test_cooccurring_tracks_in_one_cluster(rows):
    tracks, assignments = rows["tracks"], _copy(rows["track_clusters"])
    # A shot with two people on screen at once: put their tracks in one cluster.
    shots, counts = np.unique(tracks["shot"], return_counts=True)
    together = tracks["track"][tracks["shot"] == shots[counts == 2][0]]
    assignments["cluster"][np.isin(assignments["track"], together)] = 7
    problems = rules.cooccurrence_problems(
        rows["face_detections"]["frame"], rows["face_track_members"]["track"], assignments
    )
    assert len(problems) == 1 and problems[0].startswith("clusters holding two tracks on one frame: 1 (7)")


def test_kept_track_without_a_cluster_and_counts_off_the_metadata(rows):
    kept = rows["tracks"]["track"][rows["tracks"]["status"] == "kept"]
    dropped = rows["track_clusters"]["track"][0]
    assignments = {k: v[1:] for k, v in rows["track_clusters"].items()}
    problems = rules.assignment_problems(kept, assignments, rows["identities"])
    assert f"kept tracks without a cluster: 1 ({dropped})" in problems
    assert "identities rows do not match the clusters of track_clusters" in problems
    faces = len(rows["face_detections"]["face"])
    assert rules.count_problems({"faces": faces}, {"faces": faces}) == []
    assert rules.count_problems({"faces": faces + 1}, {"faces": faces, "tracks": 3}) == [
        f"the materialisation reported faces={faces + 1} but the tables hold {faces}",
        "the materialisation reported no 'tracks'",
    ]


def test_failed_blocking_check_stops_the_title(home_copy):
    """A box outside the frame in a copy of the home: `face_tracks` does not run and the title is failed."""
    home = home_copy
    path = home / "warehouse" / "face_detections" / f"{TITLE}.parquet"
    table = pq.read_table(path)
    x2 = table.column("x2").to_numpy().copy()
    x2[0] = 1e6
    pq.write_table(table.set_column(table.schema.get_field_index("x2"), "x2", pa.array(x2, pa.float32())), path)
    tracks_before = (home / "warehouse" / "tracks" / f"{TITLE}.parquet").read_bytes()
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        result = dg.materialize(
            [*all_assets, *all_checks],
            selection=dg.AssetSelection.checks_for_assets(face_detections) | dg.AssetSelection.assets(face_tracks),
            partition_key=TITLE,
            instance=instance,
            resources=build_resources(home),
            raise_on_error=False,
        )
    assert not result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "boxes_inside_frame": False,
        "title_has_faces": True,
    }
    assert not result.asset_materializations_for_node("face_tracks")
    assert (home / "warehouse" / "tracks" / f"{TITLE}.parquet").read_bytes() == tracks_before
    row = Warehouse(home).rows("titles", TITLE)
    assert (row["status"][0], row["stage"][0]) == ("failed", "face_detections")
    assert row["error"][0].startswith("face_detections check boxes_inside_frame: boxes outside the")
    assert row["error"][0].endswith(
        "; to fix: run the title again (vcn run VIDEO); if this check fails again, report it as a bug with this line"
    )
    assert row["run_id"][0] == result.run_id
