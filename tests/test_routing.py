"""GPU routing on a real Dagster instance: with the home's pool settings, the multiprocess executor runs one
GPU step at a time across concurrent runs of different titles, while their CPU steps overlap.

The stages are stand-ins that sleep and note when they ran, built with the project's own `title_asset`, so
the pool and tags under test are the ones the real GPU stages carry.
"""

import json
import multiprocessing
import time
from pathlib import Path

import dagster as dg
import pytest

from vcn_assets.common import GPU_TAGS, title_asset
from vcn_assets.partitions import titles_partitions
from vcn_dagster.instance import write_instance_settings
from videoclusternet.stages import Stage

HERE = Path(__file__).parent
TITLES = ["show.s01e01", "show.s01e02"]
# Long enough that steps started together surely overlap, however slowly the step processes start. What the tests
# assert is the order of the runs' step events, not how long anything took.
CPU_SECONDS = 5.0
GPU_SECONDS = 1.5


class StageConfig(dg.Config):
    seconds: float


@title_asset("media", kinds={"python"}, spec=Stage("routing_cpu_stage"))
def routing_cpu_stage(config: StageConfig) -> None:
    time.sleep(config.seconds)  # long enough that steps started together surely overlap


@title_asset("faces", kinds={"python"}, deps=[routing_cpu_stage], spec=Stage("routing_gpu_stage", gpu=True))
def routing_gpu_stage(config: StageConfig) -> None:
    time.sleep(config.seconds)


def routing_job() -> dg.JobDefinition:
    """Module-level, so the multiprocess executor's step processes can rebuild the job."""
    job = dg.define_asset_job("routing")
    return dg.Definitions(assets=[routing_cpu_stage, routing_gpu_stage], jobs=[job]).resolve_job_def("routing")


def _run_title(dagster_dir: str, run_config: dict, title: str) -> None:
    """One title's run, in a process of its own as a launched run has (and Dagster's logging set-up is not
    thread-safe); the exit code says whether it succeeded."""
    # Step processes rebuild the job by importing this module from its folder.
    job = dg.build_reconstructable_job(__name__, routing_job.__name__, reconstructor_working_directory=str(HERE))
    with dg.DagsterInstance.from_config(dagster_dir) as instance:
        with dg.execute_job(job, instance, run_config=run_config, tags={"dagster/partition": title}) as result:
            if not result.success:
                raise SystemExit(f"the run of {title} failed")


def _run_titles_at_once(dagster_dir: Path, gpu_seconds: float) -> dict[str, tuple[float, float]]:
    """Launch one run per title, in parallel processes; each step's (start, success) from the runs' own events,
    keyed `kind-title`."""
    with dg.DagsterInstance.from_config(str(dagster_dir)) as instance:
        instance.add_dynamic_partitions(titles_partitions.name, TITLES)
    run_config = {
        "ops": {
            "routing_cpu_stage": {"config": {"seconds": CPU_SECONDS}},
            "routing_gpu_stage": {"config": {"seconds": gpu_seconds}},
        }
    }
    spawn = multiprocessing.get_context("spawn")
    runs = [spawn.Process(target=_run_title, args=(str(dagster_dir), run_config, title)) for title in TITLES]
    for run in runs:
        run.start()
    try:
        for run in runs:
            run.join(timeout=120)
    finally:
        for run in runs:
            if run.is_alive():
                run.kill()
    assert [run.exitcode for run in runs] == [0] * len(TITLES)
    steps: dict[str, tuple[float, float]] = {}
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    with dg.DagsterInstance.from_config(str(dagster_dir)) as instance:
        for record in instance.get_runs():
            events = {}
            for entry in instance.all_logs(record.run_id, of_type=kinds):
                events[(entry.step_key, entry.dagster_event.event_type)] = entry.timestamp
            for kind in ("cpu", "gpu"):
                step = f"routing_{kind}_stage"
                start = events[(step, dg.DagsterEventType.STEP_START)]
                steps[f"{kind}-{record.tags['dagster/partition']}"] = (
                    start,
                    events[(step, dg.DagsterEventType.STEP_SUCCESS)],
                )
    return steps


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """One step started before the other had succeeded, both ways round."""
    return a[0] < b[1] and b[0] < a[1]


def test_gpu_stages_carry_the_pool_and_deployment_tags() -> None:
    """The project's own GPU stages are the ones routed: pool `gpu`, Kubernetes GPU limit, Celery `gpu` queue."""
    from vcn_dagster.definitions import all_assets

    ops = {a.op.name: a.op for a in all_assets}
    gpu_stages = {"face_detections", "face_embeddings", "adapted_model", "adapted_embeddings"}
    assert {name for name, op in ops.items() if op.pool == "gpu"} == gpu_stages, "CPU stages must not wait for GPUs"
    for name in gpu_stages:
        assert ops[name].tags["dagster-celery/queue"] == "gpu"
        k8s = json.loads(ops[name].tags["dagster-k8s/config"])
        assert k8s == GPU_TAGS["dagster-k8s/config"]
        assert k8s["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"


@pytest.mark.slow
def test_gpu_steps_of_concurrent_titles_take_turns(tmp_path: Path) -> None:
    """Two titles launched at once on a home set up the way `vcn` sets one up: their CPU steps overlap, their
    GPU steps never do, and the instance holds the `gpu` pool at one slot."""
    dagster_dir = write_instance_settings(tmp_path / "dagster").parent
    intervals = _run_titles_at_once(dagster_dir, GPU_SECONDS)
    cpu = [intervals[f"cpu-{title}"] for title in TITLES]
    gpu = [intervals[f"gpu-{title}"] for title in TITLES]
    assert _overlap(*cpu), f"CPU steps ran one after the other: {cpu}"
    assert not _overlap(*gpu), f"GPU steps ran at the same time: {gpu}"
    with dg.DagsterInstance.from_config(str(dagster_dir)) as instance:
        assert {pool.name: pool.limit for pool in instance.event_log_storage.get_pool_limits()} == {"gpu": 1}


@pytest.mark.slow
def test_without_the_pool_limit_gpu_steps_overlap(tmp_path: Path) -> None:
    """The control: the same runs, GPU steps as long as the CPU ones, on an instance without the pool settings
    have both GPU steps on at once; so the turn-taking above is the pool limit's doing."""
    dagster_dir = tmp_path / "dagster"
    dagster_dir.mkdir()
    (dagster_dir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    intervals = _run_titles_at_once(dagster_dir, CPU_SECONDS)
    assert _overlap(*[intervals[f"gpu-{title}"] for title in TITLES])
