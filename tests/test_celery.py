"""GPU routing through Celery: with `VCN_EXECUTOR=celery`, a run's GPU-tagged step goes to the worker serving only
the `gpu` queue and its CPU step to the worker serving only the default `dagster` queue.

The set-up is a small deployment on this machine: a Redis server (Debian's `redis-server`) on a free port of
127.0.0.1 as broker and result backend, two Celery workers started as deploy/README.md says, and a filesystem
Dagster instance they share with the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import redis
from celery import Celery
from celery.utils.nodenames import host_format
from celery_job import celery_routing_job

from vcn_assets.partitions import titles_partitions
from vcn_dagster.instance import write_instance_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "show.s01e01"
# Each worker's Celery node name and the one queue it serves.
QUEUES = {"gpu@%h": "gpu", "cpu@%h": "dagster"}
STARTUP_SECONDS = 45  # Dagster and Celery imports are slow on a busy machine
# dagster-celery registers its `execute_plan` task again for every step it submits; Celery warns, harmlessly.
pytestmark = pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")


@dataclass
class CeleryDeployment:
    broker: str
    dagster_dir: Path
    worker_names: dict[str, str]  # queue -> the node name of the worker serving it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started in a session of its own: SIGTERM (Celery's warm shutdown), then kill its group."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group: a Celery worker's pool processes too
        proc.wait()


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway Redis server on 127.0.0.1, nothing saved to disk."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; `make test` does it)")
    port = _free_port()
    log = tmp_path / "redis.log"
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(tmp_path)]
    with log.open("w") as out:  # the server keeps its own copy of the file
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start:\n{_tail(log)}")
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


@pytest.fixture
def celery_deployment(redis_url: str, tmp_path: Path) -> Iterator[CeleryDeployment]:
    """Two Celery workers on `redis_url`, each serving one queue, sharing a Dagster home with the test."""
    dagster_dir = write_instance_settings(tmp_path / "dagster").parent
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_dir),
        "VCN_EXECUTOR": "celery",
        "VCN_CELERY_BROKER": redis_url,
        # The workers import the job's module (tests/) and the project (root) to rebuild the job.
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
    }
    workers: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        for name, queue in QUEUES.items():
            log = tmp_path / f"worker-{queue}.log"
            # The command deploy/README.md gives, but `python -m celery` so it is this venv's Celery.
            command = [sys.executable, "-m", "celery", "-A", "dagster_celery.app", "-b", redis_url]
            command += ["--result-backend", redis_url, "worker", "-Q", queue, "-n", name, "-c", "1"]
            command += ["--prefetch-multiplier=1", "--loglevel", "INFO"]
            with log.open("w") as out:
                proc = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            workers[queue] = (proc, log)
        names = {queue: host_format(name) for name, queue in QUEUES.items()}
        _wait_until_serving(redis_url, names, workers)
        yield CeleryDeployment(redis_url, dagster_dir, names)
    finally:
        for proc, _ in workers.values():
            _stop(proc)


def _wait_until_serving(broker: str, names: dict[str, str], workers: dict[str, tuple[subprocess.Popen, Path]]) -> None:
    """Poll the workers through the broker until each answers, serving its own queue and no other."""
    app = Celery(broker=broker, backend=broker)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        replies = app.control.inspect(destination=list(names.values()), timeout=1).active_queues() or {}
        serving = {name: sorted(q["name"] for q in queues) for name, queues in replies.items()}
        if serving.keys() == set(names.values()):
            break
        dead = any(proc.poll() is not None for proc, _ in workers.values())
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {queue} worker\n{_tail(log)}" for queue, (_, log) in workers.items())
            pytest.fail(f"Celery workers not ready (answered: {serving}):\n{logs}")
        time.sleep(0.5)
    assert serving == {name: [queue] for queue, name in names.items()}


@pytest.mark.slow
def test_gpu_step_runs_on_the_gpu_queue_worker(
    celery_deployment: CeleryDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One title's run through the Celery executor: the GPU stage runs on the `gpu` worker, the CPU stage on
    the other, and the run succeeds."""
    monkeypatch.setenv("VCN_EXECUTOR", "celery")
    monkeypatch.setenv("VCN_CELERY_BROKER", celery_deployment.broker)
    job = dg.reconstructable(celery_routing_job)
    with dg.DagsterInstance.from_config(str(celery_deployment.dagster_dir)) as instance:
        instance.add_dynamic_partitions(titles_partitions.name, [TITLE])
        with dg.execute_job(job, instance, tags={"dagster/partition": TITLE}) as result:
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            ran_on = {
                stage: result.asset_materializations_for_node(stage)[0].metadata["celery_worker"].value
                for stage in ("celery_gpu_stage", "celery_cpu_stage")
            }
    assert ran_on == {
        "celery_gpu_stage": celery_deployment.worker_names["gpu"],
        "celery_cpu_stage": celery_deployment.worker_names["dagster"],
    }


def test_executor_is_picked_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`VCN_EXECUTOR` picks the Definitions' executor; unset, it is Dagster's default, and a typo is an error."""
    from vcn_dagster.executors import executor_from_env

    monkeypatch.delenv("VCN_EXECUTOR", raising=False)
    assert executor_from_env() is None
    for name, executor in {"celery": "celery", "k8s": "k8s", "multiprocess": None}.items():
        monkeypatch.setenv("VCN_EXECUTOR", name)
        assert getattr(executor_from_env(), "name", None) == executor
    monkeypatch.setenv("VCN_EXECUTOR", "kubernetes")
    with pytest.raises(ValueError, match="expected one of multiprocess, celery, k8s"):
        executor_from_env()


def test_default_executor_imports_neither_celery_nor_kubernetes() -> None:
    """The one-machine path loads without the deployment clients (a fresh interpreter: this one has Celery)."""
    code = (
        "import sys; from vcn_dagster.executors import executor_from_env; assert executor_from_env() is None; "
        "print(sorted({'celery', 'dagster_celery', 'kubernetes', 'dagster_k8s'} & sys.modules.keys()))"
    )
    env = {k: v for k, v in os.environ.items() if k != "VCN_EXECUTOR"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
