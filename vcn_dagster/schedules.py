"""Nightly reprocessing: re-run the titles that failed or whose results are stale, and nothing else.

Stale means a stage's latest materialisation was made by other code (its `dagster/code_version` tag
differs from the stage's `code_version` now) or with another face detector or embedder than the ones
configured now.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets.faces import face_detections, face_embeddings, face_tracks
from assets.identities import face_clusters
from assets.media import frames
from resources import FaceModelsResource, WarehouseResource
from vcn_dagster.jobs import title_pipeline_job
from vcn_dagster.partitions import titles_partitions

PIPELINE_ASSETS = [frames, face_detections, face_tracks, face_embeddings, face_clusters]
CODE_VERSION_TAG = "dagster/code_version"
REASONS = ("failed", "code", "model")


def current_models(face_models: FaceModelsResource) -> dict[dg.AssetKey, tuple[str, str]]:
    """Per stage that records one: (metadata entry, model `name:version` configured now)."""
    # One detector replica is enough to read its version; the stages load their own workers.
    detector = face_models.model_copy(update={"detect_workers": 1}).detectors()[0]
    embedder = face_models.embedder()
    return {
        face_detections.key: ("detector", f"{detector.name}:{detector.version}"),
        face_embeddings.key: ("embedder", f"{embedder.name}:{embedder.version}"),
    }


def reprocess_reasons(
    instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    title: str,
    models: dict[dg.AssetKey, tuple[str, str]],
) -> list[str] | None:
    """Why `title` should run again, in the order of REASONS; empty when it is current, None while it runs."""
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": title}), limit=1)
    if runs and not runs[0].is_finished:
        return None
    found = set()
    row = warehouse.read_title("titles", title)
    if (runs and runs[0].status == dg.DagsterRunStatus.FAILURE) or (
        row is not None and row.num_rows and row.column("status")[0].as_py() == "failed"
    ):
        found.add("failed")
    for asset in PIPELINE_ASSETS:
        key = asset.key
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[title]), limit=1
        ).records
        if not records:
            continue
        event = records[0].asset_materialization
        if event.tags.get(CODE_VERSION_TAG) != asset.code_versions_by_key[key]:
            found.add("code")
        if key in models:
            entry, current = models[key]
            recorded = event.metadata.get(entry)
            if recorded is not None and recorded.value != current:
                found.add("model")
    return [reason for reason in REASONS if reason in found]


@dg.schedule(
    cron_schedule="0 3 * * *",
    job=title_pipeline_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: re-runs titles that failed, or were made by other code or other face models.",
)
def nightly_reprocess(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource, face_models: FaceModelsResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run request per failed or stale title; the run key (title, reasons, date) makes a tick idempotent."""
    day = (context.scheduled_execution_time or dt.datetime.now(dt.UTC)).date().isoformat()
    models = current_models(face_models)
    requests = []
    for title in context.instance.get_dynamic_partitions(titles_partitions.name):
        reasons = reprocess_reasons(context.instance, warehouse, title, models)
        if reasons:
            requests.append(
                dg.RunRequest(
                    run_key=f"{title}:{'+'.join(reasons)}:{day}",
                    partition_key=title,
                    tags={"vcn/reason": "+".join(reasons), "vcn/launched_by": "nightly_reprocess"},
                )
            )
    return requests or dg.SkipReason("no title failed or is stale")
