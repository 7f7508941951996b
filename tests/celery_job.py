"""The job tests/test_celery.py runs through Celery: a GPU stage and a CPU stage, built with the project's own
`title_asset` (so they carry the real routing tags) and the executor `VCN_EXECUTOR` picks. Celery workers import
this module to rebuild the job, so it lives in a file of its own.
"""

import dagster as dg
from celery import current_task

from vcn_assets.common import title_asset
from vcn_dagster.executors import executor_from_env
from videoclusternet.stages import Stage


def _where_it_ran() -> dg.MaterializeResult:
    """Name the Celery worker executing this step (`current_task` is the `execute_plan` task it runs in)."""
    return dg.MaterializeResult(metadata={"celery_worker": current_task.request.hostname})


@title_asset("media", kinds={"python"}, spec=Stage("celery_cpu_stage"))
def celery_cpu_stage() -> dg.MaterializeResult:
    return _where_it_ran()


@title_asset("faces", kinds={"python"}, spec=Stage("celery_gpu_stage", gpu=True))
def celery_gpu_stage() -> dg.MaterializeResult:
    return _where_it_ran()


def celery_routing_job() -> dg.JobDefinition:
    """Built when called, so the test process and each worker take the executor from their own environment."""
    job = dg.define_asset_job("celery_routing")
    defs = dg.Definitions(assets=[celery_cpu_stage, celery_gpu_stage], jobs=[job], executor=executor_from_env())
    return defs.resolve_job_def("celery_routing")
