"""Nightly reprocessing: re-run the titles that failed or whose results are stale, and nothing else.

Stale means a stage's latest materialisation was made by other code (its `dagster/code_version` tag
differs from the stage's `code_version` now) or with another face detector or embedder than the ones
configured now.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from vcn_assets.faces import face_detections, face_embeddings
from vcn_assets.partitions import titles_partitions
from vcn_dagster.jobs import stage_keys
from vcn_resources.face_models import FaceModelsResource
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import Warehouse
from videoclusternet.stages import Stage, stages_for

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
    warehouse: Warehouse,
    title: str,
    models: dict[dg.AssetKey, tuple[str, str]],
    stages: tuple[Stage, ...],
) -> list[str] | None:
    """Why `title` should run again, in the order of REASONS; empty when it is current, None while it runs.
    `stages`: the title's stages (with adaptation's for an adapted title)."""
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": title}), limit=1)
    if runs and not runs[0].is_finished:
        return None
    found = set()
    info = warehouse.title_info(title)
    if (runs and runs[0].status == dg.DagsterRunStatus.FAILURE) or (info and info.status == "failed"):
        found.add("failed")
    for spec in stages:
        key = dg.AssetKey(spec.name)
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[title]), limit=1
        ).records
        if not records:
            continue
        event = records[0].asset_materialization
        if event.tags.get(CODE_VERSION_TAG) != spec.version:
            found.add("code")
        if key in models:
            entry, current = models[key]
            recorded = event.metadata.get(entry)
            if recorded is not None and recorded.value != current:
                found.add("model")
    return [reason for reason in REASONS if reason in found]


@dg.schedule(
    cron_schedule="0 3 * * *",
    # A schedule has one job; each request selects the title's own stages (and its clustering follows its
    # registration), as `title_pipeline` or `adapted_title_pipeline` would.
    target=dg.AssetSelection.assets(*stage_keys(adapt=True)),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: re-runs titles that failed, or were made by other code or other face models.",
)
def nightly_reprocess(
    context: dg.ScheduleEvaluationContext,
    warehouse: dg.ResourceParam[Warehouse],
    face_models: FaceModelsResource,
    media: dg.ResourceParam[MediaLibrary],
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run request per failed or stale title, adapted ones with adaptation; the run key (title, reasons,
    date) makes a tick idempotent."""
    day = (context.scheduled_execution_time or dt.datetime.now(dt.UTC)).date().isoformat()
    models = current_models(face_models)
    requests = []
    for title in context.instance.get_dynamic_partitions(titles_partitions.name):
        entry = media.find(title)
        adapt = bool(entry and entry.adapt)
        reasons = reprocess_reasons(context.instance, warehouse, title, models, stages_for(adapt))
        if reasons:
            requests.append(
                dg.RunRequest(
                    run_key=f"{title}:{'+'.join(reasons)}:{day}",
                    partition_key=title,
                    asset_selection=stage_keys(adapt),
                    tags={"vcn/reason": "+".join(reasons), "vcn/launched_by": "nightly_reprocess"},
                )
            )
    return requests or dg.SkipReason("no title failed or is stale")
