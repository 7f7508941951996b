"""What every per-title stage shares: the title's status row, timing, failures, progress bars."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from tqdm import tqdm

from resources import WarehouseResource
from vcn_dagster.partitions import titles_partitions

CODE_VERSION = "0.1.0"

# Tags that let a deployment route GPU stages: a Kubernetes GPU limit and a Celery `gpu` queue.
GPU_TAGS = {
    "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}},
    "dagster-celery/queue": "gpu",
}


def title_asset(group_name: str, kinds: set[str], deps: list | None = None, gpu: bool = False):
    """`dg.asset` for a per-title stage: partitioned by title, versioned, and routed to the GPU pool when `gpu`."""
    routing = {"pool": "gpu", "op_tags": GPU_TAGS} if gpu else {}
    return dg.asset(
        partitions_def=titles_partitions,
        deps=deps,
        group_name=group_name,
        code_version=CODE_VERSION,
        kinds=kinds,
        **routing,
    )


@contextmanager
def title_stage(context: dg.AssetExecutionContext, warehouse: WarehouseResource, stage: str) -> Iterator[None]:
    """Run one stage of a title: record its time in `titles`, or mark the title failed with the reason.

    A failed stage writes none of its tables (each is replaced atomically at the end), so readers
    never see half its output.
    """
    title = context.partition_key
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        reason = f"{stage}: {exc}"
        warehouse.update_title(title, context.run.run_id, CODE_VERSION, status="failed", stage=stage, error=reason)
        raise dg.Failure(description=f"title {title} failed in {reason}") from exc
    warehouse.update_title(
        title,
        context.run.run_id,
        CODE_VERSION,
        status="done" if stage == "face_clusters" else "processing",
        stage=stage,
        error=None,
        **{f"{stage}_s": round(time.perf_counter() - started, 3)},
    )


def progress_bar(total: int | None, desc: str) -> tqdm:
    """A per-stage progress bar, shown when the CLI runs the pipeline (`VCN_PROGRESS=1`)."""
    return tqdm(total=total, desc=desc, unit="frame", leave=False, disable=os.environ.get("VCN_PROGRESS") != "1")
