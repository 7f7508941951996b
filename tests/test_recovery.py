"""A `vcn run` killed with SIGKILL inside a gpu-pool step, or a run worker of the Dagster daemon killed so, leaves
nothing that wedges the home: the next command (or the daemon's sensor) fails the dead run in Dagster and frees its
pool slot, `vcn titles` says the title was interrupted, and the next `vcn run` starts at once and leaves exactly the
rows of a clean run. Ctrl-C stops a run that waits for a pool slot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from vcn_dagster.instance import write_instance_settings
from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import compose_clip

pytestmark = pytest.mark.slow
TITLE = "long.s01e01"
STEP_START = dg.DagsterEventType.STEP_START
# Long enough (8 shots of 2.5 s) that detection runs for a few seconds: time to be killed inside it.
SCRIPT = tuple((2.5, ("person_0", "tom_hanks") if i % 2 else ("person_1",)) for i in range(8))


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "VCN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "VCN_PROGRESS": "1"}


def _vcn(home: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vcn_dagster.cli", *args], env=_env(home), text=True, start_new_session=True, **popen
    )


def _row_counts(home: Path) -> dict[str, int]:
    con = Warehouse(home).connect()
    tables = ("frames", "shots", "face_detections", "face_track_members", "tracks", "track_clusters", "identities")
    return {t: con.execute(f"SELECT count(*) FROM {t} WHERE title = ?", [TITLE]).fetchone()[0] for t in tables}


@contextmanager
def _instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        yield dg.DagsterInstance.get()


def _interrupted_run_is_cleared(home: Path, ghost_id: str, clip: Path, clean_rows: dict[str, int]) -> None:
    """`vcn titles` says the title was interrupted; the next `vcn run` finishes with a clean run's rows; the
    ghost run is failed and holds no pool slot; no partial file is left."""
    listing = _vcn(home, "titles", stdout=subprocess.PIPE)
    out, _ = listing.communicate(timeout=120)
    assert listing.returncode == 0 and f"{TITLE}\tfailed" in out and "interrupted" in out

    again = _vcn(home, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert again.wait(600) == 0  # it would wait for the dead run's gpu slot for ever
    assert _row_counts(home) == clean_rows
    with _instance(home) as instance:
        assert instance.get_run_by_id(ghost_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert ghost_id not in instance.event_log_storage.get_concurrency_run_ids()
    assert not list(home.rglob("*.tmp"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compose_clip(tmp_path_factory.mktemp("long") / "long_s01e01.mp4", fps=10, script=SCRIPT).path


@pytest.fixture(scope="module")
def clean_rows(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The row counts a clean run of the clip leaves."""
    clean = tmp_path_factory.mktemp("clean")
    assert _vcn(clean, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait(600) == 0
    return _row_counts(clean)


def test_a_run_killed_in_a_gpu_step_wedges_nothing(clip: Path, clean_rows: dict[str, int], tmp_path: Path):
    killed = tmp_path / "killed"
    run = _vcn(killed, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = ""
    while "faces:" not in seen:  # the detection stage's progress bar: inside face_detections, a gpu-pool step
        seen += run.stderr.read(1) or pytest.fail(f"the run ended before detection: {seen[-500:]}")
    time.sleep(0.5)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()

    with _instance(killed) as instance:
        (ghost,) = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert ghost.dagster_run.run_id in instance.event_log_storage.get_concurrency_run_ids()  # holds the gpu slot
    _interrupted_run_is_cleared(killed, ghost.dagster_run.run_id, clip, clean_rows)


def test_a_daemon_run_worker_killed_in_a_gpu_step_is_failed_by_the_daemon(
    clip: Path, clean_rows: dict[str, int], tmp_path: Path
):
    """As a run launched from the UI: queued, then started by the daemon in a run worker of its own."""
    from vcn_assets.partitions import titles_partitions
    from vcn_dagster.operations import ui_command
    from vcn_resources.media import MediaLibrary

    home = tmp_path / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        workspace = ui_command([])[2]  # the code location as `vcn ui` serves it
    MediaLibrary(home).register(TITLE, clip)
    with _instance(home) as instance:
        instance.add_dynamic_partitions(titles_partitions.name, [TITLE])
    env = {**_env(home), "VCN_RECOVERY_INTERVAL_S": "5"}
    bin_dir = Path(sys.executable).parent
    daemon = subprocess.Popen(
        [bin_dir / "dagster-daemon", "run", "-w", workspace],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tags = json.dumps({"dagster/partition": TITLE})
        launch = [bin_dir / "dagster", "job", "launch", "-w", workspace, "-j", "title_pipeline", "--tags", tags]
        subprocess.run(launch, env=env, check=True, capture_output=True, timeout=120)
        with _instance(home) as instance:
            (queued,) = instance.get_run_records()
            ghost_id = queued.dagster_run.run_id
            worker = _wait_for(lambda: _worker_in_detection(instance, ghost_id), 240)
            os.kill(worker, signal.SIGKILL)
            slots = instance.event_log_storage.get_concurrency_run_ids
            _wait_for(lambda: (instance.get_run_by_id(ghost_id).is_failure and ghost_id not in slots()) or None, 60)
            steps = instance.all_logs(ghost_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED)
            detection = next(e for e in steps if e.step_key == "face_detections")
            orphan = Path(f"/proc/{detection.dagster_event.event_specific_data.metadata['pid'].value}/stat")
            assert not orphan.exists() or orphan.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # stopped
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(60)
    _interrupted_run_is_cleared(home, ghost_id, clip, clean_rows)


def _wait_for(probe, seconds: float):
    """`probe()`'s first value that is not None, polled every half second for `seconds`."""
    deadline = time.monotonic() + seconds
    while (value := probe()) is None:
        assert time.monotonic() < deadline, f"nothing after {seconds} s"
        time.sleep(0.5)
    return value


def _worker_in_detection(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid once its `face_detections` step (a gpu-pool step) has started."""
    logs = instance.all_logs(run_id)
    if not any(e.step_key == "face_detections" and e.is_dagster_event and e.dagster_event.is_step_start for e in logs):
        return None
    started = next(e.message for e in logs if e.message.startswith("Started process for run"))
    time.sleep(0.5)
    return int(started.split("pid: ")[1].rstrip(")."))


def test_ctrl_c_stops_a_run_that_waits_for_the_gpu_slot(clip: Path, tmp_path: Path):
    home = tmp_path / "home"
    write_instance_settings(home / "dagster")
    with _instance(home) as holder:  # another, live, process's step holds the gpu pool's one slot
        holder.event_log_storage.initialize_concurrency_limit_to_default("gpu")
        assert holder.event_log_storage.claim_concurrency_slot("gpu", "live-holder", "face_detections").is_claimed

    run = _vcn(home, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = ""
    while "frames:" not in seen:  # the frames stage has begun: after it, detection waits for the slot
        seen += run.stderr.read(1) or pytest.fail(f"the run ended before its frames: {seen[-500:]}")
    time.sleep(8)  # the frames stage takes about a second
    assert run.poll() is None  # waiting
    run.send_signal(signal.SIGINT)
    assert run.wait(10) == 130
    assert f"vcn: {TITLE}: interrupted: stopped by the user (SIGINT)" in run.stderr.read()

    listing = _vcn(home, "titles", stdout=subprocess.PIPE)
    out, _ = listing.communicate(timeout=120)
    assert f"{TITLE}\tfailed" in out and "stopped by the user" in out
    with _instance(home) as instance:
        (stopped,) = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": TITLE}))
        assert stopped.dagster_run.status == dg.DagsterRunStatus.FAILURE
        started = {e.step_key for e in instance.all_logs(stopped.dagster_run.run_id, of_type=STEP_START)}
        assert "frames" in started and "face_detections" not in started  # it was waiting for the slot
        assert stopped.dagster_run.run_id not in instance.event_log_storage.get_concurrency_run_ids()
