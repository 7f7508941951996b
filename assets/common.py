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


PROGRESS_LOG_EVERY_S = 30.0  # how often a stage's progress goes to the run's log (the Dagster UI shows it)


class StageProgress:
    """A stage's progress: a bar with rate and estimate on the terminal when the CLI runs the pipeline
    (`VCN_PROGRESS=1`), and, for every run (those launched from the UI too), a line in the run's log every
    PROGRESS_LOG_EVERY_S seconds and one at the end. Pass `update` to the library as its progress hook."""

    def __init__(self, context: dg.AssetExecutionContext, total: int | None, what: str, unit: str) -> None:
        self._log = context.log
        self._what, self._unit, self.total = f"{context.partition_key} {what}", unit, total
        self._bar = tqdm(
            total=total, desc=self._what, unit=unit, leave=False, disable=os.environ.get("VCN_PROGRESS") != "1"
        )
        self.done = 0
        self._started = self._logged = time.perf_counter()

    def update(self, n: int = 1, total: int | None = None) -> None:
        """`n` more done; `total`, when the work turns out to have a known size only once started."""
        if total is not None and total != self.total:
            self.total = self._bar.total = total
        self._bar.update(n)
        self.done += n
        now = time.perf_counter()
        if now - self._logged >= PROGRESS_LOG_EVERY_S:
            self._logged = now
            self._log.info(self.line(now))

    def line(self, now: float) -> str:
        """`show.s01e01 faces: 1,200 of 3,130 frames, 41.2 frames/s, about 47 s left`."""
        rate = self.done / max(now - self._started, 1e-9)
        of = f" of {self.total:,}" if self.total is not None else ""
        left = (
            f", about {(self.total - self.done) / rate:.0f} s left"
            if self.total is not None and rate > 0 and self.done < self.total
            else ""
        )
        return f"{self._what}: {self.done:,}{of} {self._unit}s, {rate:.1f} {self._unit}s/s{left}"

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()
        if exc[0] is None:
            self._log.info(self.line(time.perf_counter()))
