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

from vcn_assets.partitions import titles_partitions
from vcn_resources.warehouse import Warehouse
from videoclusternet.models import ModelPackError
from videoclusternet.stages import Stage, stage
from videoclusternet.video import VideoError

# What a stage raises when its title cannot be processed (unreadable video, a missing model, bad data): the
# title fails with the one-line message. Anything else is a bug: the title fails too, and the trace is kept.
STAGE_ERRORS = (OSError, ValueError, RuntimeError, MemoryError, ImportError, VideoError, ModelPackError)

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


def title_asset(group_name: str, kinds: set[str], deps: list | None = None, spec: Stage | None = None):
    """`dg.asset` for a per-title stage (`spec`, by default the stage of `videoclusternet.stages` named like
    the function): partitioned by title, versioned, and routed to the GPU pool when the stage runs its
    network there."""

    def decorate(fn):
        spec_ = spec or stage(fn.__name__)
        routing = {"pool": "gpu", "op_tags": GPU_TAGS} if spec_.gpu else {}
        return dg.asset(
            partitions_def=titles_partitions,
            deps=deps,
            group_name=group_name,
            code_version=spec_.version,
            kinds=kinds,
            **routing,
        )(fn)

    return decorate


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
def title_stage(context: dg.AssetExecutionContext, warehouse: Warehouse, stage: str) -> Iterator[None]:
    """Run one stage of a title: record its time in `titles`, or mark the title failed with the reason.

    A failed stage writes none of its tables (each is replaced atomically at the end), so readers
    never see half its output.
    """
    title = context.partition_key
    started = time.perf_counter()

    def fail(reason: str) -> None:
        warehouse.update_title(
            title, context.run.run_id, stage_version(context), status="failed", stage=stage, error=reason
        )

    try:
        warehouse.retract_below(title, stage)  # the stages below follow in this run; until then, nothing stale
        yield
    except STAGE_ERRORS as exc:
        fail(f"{stage}: {exc}")
        raise dg.Failure(description=f"title {title} failed in {stage}: {exc}") from exc
    except BaseException as exc:  # a bug or an interruption: the title must not stay `processing`; re-raised as is
        fail(f"{stage}: {type(exc).__name__}: {exc}")
        raise
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
