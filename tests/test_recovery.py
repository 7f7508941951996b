"""A `vcn run` killed with SIGKILL inside a gpu-pool step leaves nothing that wedges the home: the next command
fails the dead run in Dagster and frees its pool slot, `vcn titles` says the title was interrupted, and the next
`vcn run` starts at once and leaves exactly the rows of a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import compose_clip

pytestmark = pytest.mark.slow
TITLE = "long.s01e01"
# Long enough (8 shots of 2.5 s) that detection runs for a few seconds: time to be killed inside it.
SCRIPT = tuple((2.5, ("person_0", "tom_hanks") if i % 2 else ("person_1",)) for i in range(8))


def _vcn(home: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "VCN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "VCN_PROGRESS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "vcn_dagster.cli", *args], env=env, text=True, start_new_session=True, **popen
    )


def _row_counts(home: Path) -> dict[str, int]:
    con = Warehouse(home).connect()
    tables = ("frames", "shots", "face_detections", "face_track_members", "tracks", "track_clusters", "identities")
    return {t: con.execute(f"SELECT count(*) FROM {t} WHERE title = ?", [TITLE]).fetchone()[0] for t in tables}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compose_clip(tmp_path_factory.mktemp("long") / "long_s01e01.mp4", fps=10, script=SCRIPT).path


def test_a_run_killed_in_a_gpu_step_wedges_nothing(clip: Path, tmp_path: Path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert _vcn(clean, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait(600) == 0

    run = _vcn(killed, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = ""
    while "faces:" not in seen:  # the detection stage's progress bar: inside face_detections, a gpu-pool step
        seen += run.stderr.read(1) or pytest.fail(f"the run ended before detection: {seen[-500:]}")
    time.sleep(0.5)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(killed / "dagster"))
        instance = dg.DagsterInstance.get()
        (ghost,) = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        ghost_id = ghost.dagster_run.run_id
        assert ghost_id in instance.event_log_storage.get_concurrency_run_ids()  # it holds the gpu slot

    listing = _vcn(killed, "titles", stdout=subprocess.PIPE)
    out, _ = listing.communicate(timeout=120)
    assert listing.returncode == 0 and f"{TITLE}\tfailed" in out and "interrupted" in out

    again = _vcn(killed, "run", str(clip), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert again.wait(600) == 0  # it would wait for the dead run's gpu slot for ever
    assert _row_counts(killed) == _row_counts(clean)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(killed / "dagster"))
        instance = dg.DagsterInstance.get()
        assert instance.get_run_by_id(ghost_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert ghost_id not in instance.event_log_storage.get_concurrency_run_ids()
    assert not list(killed.rglob("*.tmp"))
