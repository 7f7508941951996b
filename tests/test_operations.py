"""Operations on a real Dagster instance: the media drop sensor, the nightly schedule, season backfills."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.execution.backfill import BulkActionStatus

from vcn_dagster import schedules
from vcn_dagster.backfills import BACKFILL_TAG, SEASON_TAG
from vcn_dagster.cli import main
from vcn_dagster.definitions import all_assets, build_resources
from vcn_dagster.jobs import adapted_title_pipeline_job, title_pipeline_job
from vcn_dagster.operations import prepare_home
from vcn_dagster.schedules import nightly_reprocess
from vcn_dagster.sensors import DropCursor, drop_title_key, media_drop_sensor, settled_files
from vcn_resources.drops import DropFolderResource, LocalDropFolder
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import compose_clip, garbage

GENERIC_STAGES = {
    dg.AssetKey(stage) for stage in ("frames", "face_detections", "face_tracks", "face_embeddings", "face_clusters")
}
ADAPTATION_STAGES = {dg.AssetKey("adapted_model"), dg.AssetKey("adapted_embeddings")}

# --- media drop sensor ---------------------------------------------------------------------------------------


@dataclass
class Drop:
    home: Path
    folder: Path
    instance: dg.DagsterInstance
    cursor: str | None = None

    def tick(self, settle: float = 0.0, max_per_tick: int = 8) -> SensorExecutionData:
        """One sensor tick, resolved against the job; its partitions are then added as the daemon would."""
        drops = DropFolderResource(path=str(self.folder), settle_seconds=settle, max_per_tick=max_per_tick)
        resources = {**build_resources(self.home), "drops": drops}
        jobs = [title_pipeline_job, adapted_title_pipeline_job]
        defs = dg.Definitions(assets=all_assets, jobs=jobs, sensors=[media_drop_sensor], resources=resources)
        # An instance ref, as the daemon passes: run requests for partitions are then checked against the instance.
        with dg.build_sensor_context(
            instance_ref=self.instance.get_ref(), cursor=self.cursor, definitions=defs, resources=resources
        ) as context:
            result = media_drop_sensor.evaluate_tick(context)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        self.cursor = result.cursor
        return result

    def write(self, name: str, content: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(content)
        return path


@pytest.fixture
def drop(tmp_path: Path):
    folder, dagster_dir = tmp_path / "drop", tmp_path / "dagster"
    folder.mkdir()
    dagster_dir.mkdir()
    with dg.instance_for_test(temp_dir=str(dagster_dir)) as instance:
        yield Drop(tmp_path / "home", folder, instance)


def test_a_settled_video_becomes_a_partition_and_a_run_once_per_content(drop: Drop):
    drop.write("notes.txt", b"not a video")
    drop.write(".Show.Name.S01E03.mkv.part", b"an upload in progress")
    video = drop.write("Show.Name.S01E03.mkv", b"x" * 1000)

    # Just seen, then seen again unchanged but within the 30 s settle interval: nothing runs yet.
    assert not drop.tick(settle=30).run_requests
    assert not drop.tick(settle=30).run_requests
    assert list(DropCursor.load(drop.cursor).pending) == ["Show.Name.S01E03.mkv"]
    # Still growing: the settle clock starts again.
    with video.open("ab") as f:
        f.write(b"y" * 1000)
    assert not drop.tick(settle=0.3).run_requests
    time.sleep(0.4)
    (run,) = drop.tick(settle=0.3).run_requests
    sha = MediaLibrary(drop.home).lookup("show_name.s01e03").sha256
    assert run.partition_key == "show_name.s01e03"
    assert run.job_name == "title_pipeline" and run.tags["dagster/partition"] == "show_name.s01e03"
    assert sha in run.run_key
    assert run.tags["vcn/content_sha256"] == sha and run.tags["vcn/source"] == str(video.resolve())
    assert drop.instance.get_dynamic_partitions("titles") == ["show_name.s01e03"]
    assert DropCursor.load(drop.cursor).pending == {}

    # Nothing changed: nothing to do, nothing pending.
    assert not drop.tick(settle=0.3).run_requests
    assert DropCursor.load(drop.cursor).pending == {}
    # The same content dropped again: seen, settled, hashed, and still nothing runs.
    video.unlink()
    drop.write("Show.Name.S01E03.mkv", b"x" * 1000 + b"y" * 1000)
    assert not drop.tick(settle=0.3).run_requests
    time.sleep(0.4)
    assert not drop.tick(settle=0.3).run_requests
    # A sensor reset (no cursor) re-runs nothing either: the registry has the content hash.
    drop.cursor = None
    drop.tick()
    assert not drop.tick().run_requests

    # Replaced by other content: the title runs again, under a new run key; the partition already exists.
    drop.write("Show.Name.S01E03.mkv", b"z" * 3000)
    drop.tick()
    result = drop.tick()
    (rerun,) = result.run_requests
    assert rerun.partition_key == "show_name.s01e03" and rerun.run_key != run.run_key
    assert rerun.tags["vcn/content_sha256"] != sha
    assert not result.dynamic_partitions_requests

    # A title adapted before (`vcn run --adapt`) is adapted again when a new file for it is dropped.
    MediaLibrary(drop.home).register("show_name.s01e03", video, adapt=True)
    drop.write("Show.Name.S01E03.mkv", b"w" * 3000)
    drop.tick()
    (adapted,) = drop.tick().run_requests
    assert adapted.job_name == "adapted_title_pipeline" and adapted.partition_key == "show_name.s01e03"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Show.Name.S01E03.mkv", "show_name.s01e03"),
        ("show_s01e03.mp4", "show.s01e03"),
        ("show - 1x03.mkv", "show.s01e03"),
    ],
)
def test_documented_title_keys(name: str, key: str, caplog: pytest.LogCaptureFixture):
    assert drop_title_key(name, logging.getLogger("test")) == key
    assert not caplog.records


def test_unsafe_names_are_rewritten_or_rejected_with_a_warning(drop: Drop, caplog: pytest.LogCaptureFixture):
    log = logging.getLogger("test")
    with caplog.at_level(logging.WARNING):
        assert drop_title_key("evil,name..x.mp4", log) == "evil_name_x"
        assert drop_title_key("bell\x07show.S01E02.mkv", log) == "bell_show.s01e02"
        assert drop_title_key("x\\..\\etc.mp4", log) == "x_etc"
        assert drop_title_key("¿¿¿.mp4", log) is None
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "drop 'evil,name..x.mp4'",
        "drop 'bell\\x07show.S01E02.mkv'",
        "drop 'x\\\\..\\\\etc.mp4'",
        "drop '¿¿¿.mp4' skipped",
    ]
    for name in ("evil,name..x.mp4", "bell\x07show.S01E02.mkv", "x\\..\\etc.mp4", "¿¿¿.mp4"):
        drop.write(name, name.encode())
    drop.tick()
    result = drop.tick()
    assert sorted(r.partition_key for r in result.run_requests) == ["bell_show.s01e02", "evil_name_x", "x_etc"]
    assert DropCursor.load(drop.cursor).pending == {}  # the rejected file is not retried on every tick
    assert not drop.tick().run_requests


def test_work_per_tick_is_bounded_and_the_cursor_stays_small(drop: Drop):
    for episode in range(1, 6):
        drop.write(f"show.s01e0{episode}.mp4", bytes([episode]) * 100)
    drop.tick(max_per_tick=2)
    launched = [len(drop.tick(max_per_tick=2).run_requests) for _ in range(4)]
    assert launched == [2, 2, 1, 0]
    assert len(drop.instance.get_dynamic_partitions("titles")) == 5
    assert len(drop.cursor) < 100


def test_two_files_with_one_title_key_run_once(drop: Drop):
    drop.write("Show.S01E01.mkv", b"older")
    time.sleep(0.05)
    newer = drop.write("show.s01e01.mp4", b"newer")  # also last by name: a tie would pick the older one
    drop.tick()
    (run,) = drop.tick().run_requests
    assert run.tags["vcn/source"] == str(newer.resolve())
    assert DropCursor.load(drop.cursor).pending == {}
    assert not drop.tick().run_requests


def test_settling_follows_the_clock_and_a_moved_in_file_counts_as_new(tmp_path: Path):
    old = tmp_path / "show.s01e01.mp4"
    old.write_bytes(b"a" * 10)
    os.utime(old, (1_000_000, 1_000_000))  # `mv` keeps an old mtime; the listing must still see a change now
    (file,) = LocalDropFolder(tmp_path).list()
    assert file.mtime > time.time() - 60
    settled, cursor = settled_files([file], DropCursor(), now=100.0, settle_seconds=30)
    assert not settled
    settled, cursor = settled_files([file], cursor, now=129.0, settle_seconds=30)
    assert not settled
    settled, cursor = settled_files([file], cursor, now=131.0, settle_seconds=30)
    assert settled == [file]


# --- season backfill and the nightly schedule -------------------------------------------------------------------


@dataclass
class Season:
    home: Path
    instance: dg.DagsterInstance
    report: str
    failed_exit: int


def _tiny_clip(source: Path, out: Path, frames: int = 12) -> Path:
    """The first frames of a clip: a title that costs little to process."""
    reader = cv2.VideoCapture(str(source))
    fps = reader.get(cv2.CAP_PROP_FPS)
    ok, frame = reader.read()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
    for _ in range(frames):
        writer.write(frame)
        ok, frame = reader.read()
    writer.release()
    reader.release()
    return out


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory):
    """A home with show.s01e01 (the test clip), show.s01e02 (a tiny clip), other.s01e01 and a corrupt bad.s02e01;
    `vcn backfill-season show.s01` (no webserver answers) and `vcn backfill-season bad.s02` run in process."""
    root = tmp_path_factory.mktemp("season")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(root / "home"))
        mp.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        home = prepare_home()
        clip = compose_clip(root / "clip.mp4").path
        tiny = _tiny_clip(clip, root / "tiny.mp4")
        corrupt = root / "corrupt.mp4"
        corrupt.write_bytes(garbage(20_000))
        media = MediaLibrary(home)
        videos = {"show.s01e01": clip, "show.s01e02": tiny, "other.s01e01": tiny, "bad.s02e01": corrupt}
        for key, path in videos.items():
            tiny_settings = {"stride": 2, "mirror": False} if key == "show.s01e02" else {}
            media.register(key, path, **tiny_settings)  # as `vcn run --stride 2 --no-mirror` does
        instance = dg.DagsterInstance.get()
        instance.add_dynamic_partitions("titles", list(videos))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main(["backfill-season", "show.s01", "--url", "http://127.0.0.1:9"])  # no webserver: runs here; exit 0
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as failed:
            main(["backfill-season", "bad.s02", "--in-process"])
    yield Season(home, instance, out.getvalue(), failed.value.code)
    instance.dispose()


def _backfill_runs(instance: dg.DagsterInstance, season: str) -> dict[str, list[dg.DagsterRun]]:
    """The runs of each in-process backfill of `season`, by backfill id."""
    by_backfill: dict[str, list[dg.DagsterRun]] = {}
    for run in instance.get_runs(dg.RunsFilter(tags={SEASON_TAG: season})):
        by_backfill.setdefault(run.tags[BACKFILL_TAG], []).append(run)
    return by_backfill


def test_season_backfill_is_one_backfill_over_that_season_only(season: Season):
    ((backfill_id, runs),) = _backfill_runs(season.instance, "show.s01").items()
    # Each title's run, then the season's cast as the last step.
    assert sorted(r.tags["dagster/partition"] for r in runs) == ["show.s01", "show.s01e01", "show.s01e02"]
    assert runs[0].job_name == "season_cast_job"  # newest first
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert not season.instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "other.s01e01"}))
    # Every stage of both titles materialised, in the backfill's runs.
    for title in ("show.s01e01", "show.s01e02"):
        for key in GENERIC_STAGES:
            (record,) = season.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[title]), limit=1
            ).records
            assert record.run_id in {r.run_id for r in runs}
    assert f"backfill {backfill_id} (in process)" in season.report and "show.s01e02: done" in season.report

    con = Warehouse(season.home).connect()
    status = dict(con.execute("SELECT title, status FROM titles").fetchall())
    assert status == {"show.s01e01": "done", "show.s01e02": "done", "bad.s02e01": "failed"}
    # Each title's faces were embedded as registered: with their mirror images, or upright only.
    mirrored = {}
    for title in ("show.s01e01", "show.s01e02"):
        (record,) = season.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("face_embeddings"), asset_partitions=[title]), limit=1
        ).records
        mirrored[title] = record.asset_materialization.metadata["mirror"].value
    assert mirrored == {"show.s01e01": True, "show.s01e02": False}
    # Each title ran with its own registered stride: the tiny clip's 12 frames every 2nd frame.
    strides = con.execute("SELECT title, stride FROM titles WHERE title LIKE 'show.%' ORDER BY 1").fetchall()
    assert strides == [("show.s01e01", 1), ("show.s01e02", 2)]
    assert con.execute("SELECT list(frame ORDER BY frame) FROM frames WHERE title = 'show.s01e02'").fetchone()[0] == [
        0,
        2,
        4,
        6,
        8,
        10,
    ]


def test_a_title_keeps_its_stride_adaptation_and_mirror_until_told_otherwise(tmp_path: Path):
    media = MediaLibrary(tmp_path)
    video = tmp_path / "a.mp4"
    video.write_bytes(b"not looked at here")
    assert media.register("new", video).stride == 1 and not media.lookup("new").adapt
    assert media.find("never_registered") is None
    media.register("a", video, stride=3, adapt=True)
    entry = media.register("a", video)  # a drop of a new file, a backfill, a plain `vcn run`
    assert entry.stride == 3 and entry.adapt and media.lookup("a").adapt
    assert media.register("a", video, stride=1).stride == media.lookup("a").stride == 1
    assert media.lookup("a").adapt
    media.register("a", video, adapt=False)  # `vcn run --no-adapt`
    assert not media.lookup("a").adapt and media.lookup("a").stride == 1
    assert media.lookup("a").mirror and not media.register("a", video, mirror=False).mirror  # `--no-mirror`
    assert not media.register("a", video).mirror and media.lookup("a").stride == 1
    (tmp_path / "media" / "old.json").write_text('{"path": "x.mp4", "sha256": "", "stride": 2, "adapt": false}')
    assert media.lookup("old").mirror  # written before the setting existed


def test_a_failed_title_fails_its_backfill_and_the_command(season: Season):
    ((_, runs),) = _backfill_runs(season.instance, "bad.s02").items()
    title_runs = [r for r in runs if r.tags["dagster/partition"] != "bad.s02"]
    assert [r.status for r in title_runs] == [dg.DagsterRunStatus.FAILURE]
    assert season.failed_exit == 1


def test_a_season_with_no_titles_is_a_clear_error(season: Season, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VCN_HOME", str(season.home))
    monkeypatch.setenv("DAGSTER_HOME", str(season.home / "dagster"))
    with pytest.raises(SystemExit, match=r"no registered title of season 'show\.s09'.*known seasons: bad\.s02"):
        main(["backfill-season", "show.s09", "--in-process"])


def test_season_summary_rolls_episodes_up(season: Season):
    con = Warehouse(season.home).connect()
    rows = con.execute("SELECT * FROM season_summary").fetchall()
    cols = [d[0] for d in con.description]
    assert cols == ["season", "title", "status", "faces", "tracks_kept", "tracks_set_aside", "identities"]
    by_title = {r[1]: dict(zip(cols, r)) for r in rows}
    assert by_title["show.s01e01"]["season"] == "show.s01"
    assert by_title["show.s01e01"]["faces"] > 0 and by_title["show.s01e01"]["identities"] >= 2
    assert by_title["bad.s02e01"] == {
        "season": "bad.s02",
        "title": "bad.s02e01",
        "status": "failed",
        "faces": 0,
        "tracks_kept": 0,
        "tracks_set_aside": 0,
        "identities": 0,
    }


def _schedule_tick(season: Season) -> dict[str, dg.RunRequest]:
    when = dt.datetime(2025, 1, 2, 3, tzinfo=dt.UTC)
    resources = build_resources(season.home)
    defs = dg.Definitions(assets=all_assets, schedules=[nightly_reprocess], resources=resources)
    context = dg.build_schedule_context(
        instance=season.instance,
        scheduled_execution_time=when,
        resources=resources,
        repository_def=defs.get_repository_def(),
    )
    return {r.partition_key: r for r in nightly_reprocess.evaluate_tick(context).run_requests or []}


def test_nightly_schedule_requests_failed_and_stale_titles_only(season: Season, monkeypatch: pytest.MonkeyPatch):
    # Only the failed title: the done ones are current, other.s01e01 never ran.
    requests = _schedule_tick(season)
    assert list(requests) == ["bad.s02e01"]
    assert requests["bad.s02e01"].run_key == "bad.s02e01:failed:2025-01-02"
    assert requests["bad.s02e01"].tags["vcn/reason"] == "failed"

    # show.s01e02's clusters as an older release made them: stale by code version.
    season.instance.report_runless_asset_event(
        dg.AssetMaterialization("face_clusters", partition="show.s01e02", tags={"dagster/code_version": "0.0.1"})
    )
    requests = _schedule_tick(season)
    assert sorted(requests) == ["bad.s02e01", "show.s01e02"]
    assert requests["show.s01e02"].run_key == "show.s01e02:code:2025-01-02"
    assert _schedule_tick(season)["show.s01e02"].run_key == requests["show.s01e02"].run_key  # idempotent per day
    # Each title runs its own stages: with adaptation's for a title registered adapted (`vcn run --adapt`).
    assert set(requests["show.s01e02"].asset_selection) == GENERIC_STAGES
    media = MediaLibrary(season.home)
    corrupt = Path(media.lookup("bad.s02e01").path)
    media.register("bad.s02e01", corrupt, adapt=True)
    try:
        adapted = _schedule_tick(season)["bad.s02e01"].asset_selection
    finally:
        media.register("bad.s02e01", corrupt, adapt=False)
    assert set(adapted) == GENERIC_STAGES | ADAPTATION_STAGES

    # The request runs as the daemon would launch it: the schedule's job, cut to the title's stages. Then the
    # title is current again.
    request = requests["show.s01e02"]
    defs = dg.Definitions(assets=all_assets, schedules=[nightly_reprocess], resources=build_resources(season.home))
    job = defs.resolve_job_def(nightly_reprocess.job_name).get_subset(asset_selection=set(request.asset_selection))
    result = job.execute_in_process(partition_key="show.s01e02", instance=season.instance, tags=request.tags)
    assert result.success
    clusters = result.asset_materializations_for_node("face_clusters")[0]
    assert clusters.metadata["embeddings"].value == "base"  # as registered: not adapted
    assert list(_schedule_tick(season)) == ["bad.s02e01"]

    # Another embedder configured: every title it embedded is stale by model.
    current = schedules.current_models
    monkeypatch.setattr(
        schedules,
        "current_models",
        lambda face_models: {**current(face_models), schedules.face_embeddings.key: ("embedder", "sface:000000")},
    )
    requests = _schedule_tick(season)
    assert {k: r.tags["vcn/reason"] for k, r in requests.items()} == {
        "bad.s02e01": "failed",
        "show.s01e01": "model",
        "show.s01e02": "model",
    }


def test_season_backfill_on_a_webserver_goes_through_graphql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The GraphQL the command sends, answered by Dagster's own schema over this code location (no server)."""
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster_graphql.test.utils import execute_dagster_graphql

    from vcn_dagster import backfills

    (tmp_path / "dagster").mkdir()
    repo = str(Path(__file__).resolve().parents[1])
    origin = LoadableTargetOrigin(module_name="vcn_dagster.definitions", working_directory=repo)
    with (
        dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance,
        in_process_test_workspace(instance, origin) as workspace,
    ):
        instance.add_dynamic_partitions("titles", ["show.s01e01", "show.s01e02", "show.s02e01"])
        video = tmp_path / "e02.mp4"
        video.write_bytes(b"not looked at here")
        MediaLibrary(tmp_path / "home").register("show.s01e02", video, adapt=True)

        def answer(url: str, query: str, variables: dict | None = None, timeout: float = 10.0) -> dict:
            assert url == "http://dagster:3000"
            result = execute_dagster_graphql(workspace, query, variables)
            return {"data": result.data, "errors": result.errors}

        monkeypatch.setattr(backfills, "_graphql", answer)
        launched = backfills.launch_season_backfill(instance, tmp_path / "home", "show.s01", "http://dagster:3000")
        made = [instance.get_backfill(b.backfill_id) for b in launched]
    # One backfill per kind of title: show.s01e02, registered adapted, also gets adaptation's stages.
    titles = ["show.s01e01", "show.s01e02"]
    assert [(b.where, b.titles) for b in launched] == [("http://dagster:3000", [t]) for t in titles]
    stages = [GENERIC_STAGES, GENERIC_STAGES | ADAPTATION_STAGES]
    for backfill, title, keys in zip(made, titles, stages):
        assert backfill.tags[SEASON_TAG] == "show.s01" and backfill.status == BulkActionStatus.REQUESTED
        target = backfill.asset_backfill_data.target_subset
        assert {p for _, p in target.iterate_asset_partitions()} == {title} and target.asset_keys == keys


LOCATIONS = "workspaceOrError { ... on Workspace { locationEntries { name } } }"


@pytest.mark.slow
def test_vcn_ui_serves_the_code_location_and_stops_on_sigterm_when_started_in_the_background(tmp_path: Path):
    """`vcn ui &` from a script: the shell ignores SIGINT in it, which dagster dev also uses for SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ui = subprocess.Popen(
        [sys.executable, "-m", "vcn_dagster.cli", "ui", "-p", str(port)],
        env={**os.environ, "VCN_HOME": str(tmp_path / "home")},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = json.dumps({"query": "{ assetNodes { assetKey { path } } " + LOCATIONS + "}"}).encode()
        graphql = f"http://127.0.0.1:{port}/graphql"
        request = urllib.request.Request(graphql, query, {"Content-Type": "application/json"})
        deadline, assets = time.monotonic() + 120, None
        while assets is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(request, timeout=5) as answer:
                    data = json.load(answer)["data"]
                    assets = {tuple(n["assetKey"]["path"]) for n in data["assetNodes"]}
            time.sleep(1)
        assert assets is not None and ("face_clusters",) in assets
        # The location name of workspace.yaml and pyproject.toml, so the UI shows the schedule state that
        # `dagster schedule start -w workspace.yaml` or a plain `dagster dev` set.
        assert [e["name"] for e in data["workspaceOrError"]["locationEntries"]] == ["videoclusternet"]
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) is not None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)
