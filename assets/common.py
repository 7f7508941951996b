"""What every per-title stage shares: the title's status row, timing, failures, progress bars."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pyarrow as pa
from tqdm import tqdm

from resources import WarehouseResource
from vcn_dagster.partitions import titles_partitions

CODE_VERSION = "0.1.0"
# Each stage's own code version, stamped on its asset and its rows: bump a stage's entry when what it writes
# changes, and only that stage and those below it go stale. A stage not listed has CODE_VERSION.
STAGE_VERSIONS = {
    "frames": "0.1.0",
    "face_detections": "0.1.0",
    "face_tracks": "0.1.0",
    "face_embeddings": "0.1.0",
    "adapted_model": "0.1.0",
    "adapted_embeddings": "0.1.0",
    "face_clusters": "0.1.0",
}

# Tags that let a deployment route GPU stages (deploy/README.md): for k8s_job_executor, a pod with one GPU on a
# GPU node (the NVIDIA GPU operator's node label; the usual taint of GPU node pools); for celery_executor, the
# `gpu` queue, which only workers on GPU machines serve.
GPU_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        "pod_spec_config": {
            "node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    },
    "dagster-celery/queue": "gpu",
}


def title_asset(group_name: str, kinds: set[str], deps: list | None = None, gpu: bool = False):
    """`dg.asset` for a per-title stage: partitioned by title, versioned, and routed to the GPU pool when `gpu`."""
    routing = {"pool": "gpu", "op_tags": GPU_TAGS} if gpu else {}

    def decorate(fn):
        return dg.asset(
            partitions_def=titles_partitions,
            deps=deps,
            group_name=group_name,
            code_version=code_version_of(fn.__name__),
            kinds=kinds,
            **routing,
        )(fn)

    return decorate


def code_version_of(stage: str) -> str:
    return STAGE_VERSIONS.get(stage, CODE_VERSION)


def stage_version(context: dg.AssetExecutionContext) -> str:
    """The running stage's code version, as Dagster records it: the version its rows carry."""
    return context.assets_def.code_versions_by_key[context.asset_key]


def content_version(*tables: pa.Table) -> dg.DataVersion:
    """A data version from what a stage wrote, lineage columns left out: a re-run that writes the same rows
    keeps the version, so the stages below it stay fresh."""
    digest = hashlib.sha256()
    for table in tables:
        lineage = [c for c in ("title", "run_id", "code_version") if c in table.column_names]
        kept = table.drop_columns(lineage).combine_chunks()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, kept.schema) as writer:
            writer.write_table(kept)
        digest.update(sink.getvalue())
    return dg.DataVersion(digest.hexdigest()[:16])


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
        warehouse.update_title(
            title, context.run.run_id, stage_version(context), status="failed", stage=stage, error=reason
        )
        raise dg.Failure(description=f"title {title} failed in {reason}") from exc
    warehouse.update_title(
        title,
        context.run.run_id,
        stage_version(context),
        status="done" if stage == "face_clusters" else "processing",
        stage=stage,
        error=None,
        **{f"{stage}_s": round(time.perf_counter() - started, 3)},
    )


def progress_bar(total: int | None, desc: str) -> tqdm:
    """A per-stage progress bar, shown when the CLI runs the pipeline (`VCN_PROGRESS=1`)."""
    return tqdm(total=total, desc=desc, unit="frame", leave=False, disable=os.environ.get("VCN_PROGRESS") != "1")
