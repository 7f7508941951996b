"""The one `Definitions` of the code location; `dagster dev` in the repo root loads it."""

# First thing in a process that loads the code location (a run worker, `dagster dev`), before its threads
# allocate (memory.py) and before the runtimes that report usage load (offline.py). `vcn` does the same in its `main`.
from vcn_dagster.memory import arrow_on_system_malloc, limit_malloc_arenas
from videoclusternet.offline import no_usage_reports

limit_malloc_arenas()
arrow_on_system_malloc()
no_usage_reports()

import os
from pathlib import Path

import dagster as dg

from vcn_assets import adaptation, evaluation, faces, identities, media, season
from vcn_dagster.executors import executor_from_env
from vcn_dagster.jobs import adapted_title_pipeline_job, season_cast_job, title_pipeline_job
from vcn_dagster.schedules import nightly_reprocess
from vcn_dagster.sensors import interrupted_runs_sensor, media_drop_sensor, season_cast_sensor
from vcn_resources.drops import drop_folder_from_env
from vcn_resources.face_models import FaceModelsResource
from vcn_resources.home import vcn_home
from vcn_resources.media import MediaLibrary
from vcn_resources.tracking import DeviceResource, MlflowResource
from vcn_resources.warehouse import Warehouse

all_assets = dg.load_assets_from_modules([media, faces, adaptation, identities, season])
all_checks = dg.load_asset_checks_from_modules([media, faces, adaptation, identities, evaluation, season])


def build_resources(home: Path) -> dict[str, object]:
    """Resources rooted in one home folder; models are picked with VCN_DETECTOR / VCN_EMBEDDER / VCN_MODEL_PACK,
    and VCN_MODEL_CACHE shares one folded-model cache between homes. The warehouse and the media library are
    plain objects (`dg.ResourceParam` in the assets), so that the CLI's read-only commands need no Dagster."""
    return {
        "media": MediaLibrary(home),
        "warehouse": Warehouse(home),
        "face_models": FaceModelsResource(
            home=str(home),
            detector_name=os.environ.get("VCN_DETECTOR", "yunet"),
            embedder_name=os.environ.get("VCN_EMBEDDER", "sface"),
            pack_dir=os.environ.get("VCN_MODEL_PACK") or None,
            model_cache=os.environ.get("VCN_MODEL_CACHE") or None,
        ),
        "mlflow_tracking": MlflowResource(home=str(home), tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None),
        "device": DeviceResource(),
        "drops": drop_folder_from_env(home),
    }


defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[title_pipeline_job, adapted_title_pipeline_job, season_cast_job],
    sensors=[media_drop_sensor, season_cast_sensor, interrupted_runs_sensor],
    schedules=[nightly_reprocess],
    resources=build_resources(vcn_home()),
    executor=executor_from_env(),
)
