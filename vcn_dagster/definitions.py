"""The one `Definitions` of the code location; `dagster dev` in the repo root loads it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets import adaptation, faces, identities, media
from resources import (
    DeviceResource,
    FaceModelsResource,
    MediaLibraryResource,
    MlflowResource,
    WarehouseResource,
    vcn_home,
)
from vcn_dagster.jobs import adapted_title_pipeline_job, title_pipeline_job

all_assets = dg.load_assets_from_modules([media, faces, adaptation, identities])


def build_resources(home: Path) -> dict[str, dg.ConfigurableResource]:
    """Resources rooted in one home folder; models are picked with VCN_DETECTOR / VCN_EMBEDDER / VCN_MODEL_PACK,
    and VCN_MODEL_CACHE shares one folded-model cache between homes."""
    return {
        "media": MediaLibraryResource(home=str(home)),
        "warehouse": WarehouseResource(home=str(home)),
        "face_models": FaceModelsResource(
            home=str(home),
            detector_name=os.environ.get("VCN_DETECTOR", "yunet"),
            embedder_name=os.environ.get("VCN_EMBEDDER", "sface"),
            pack_dir=os.environ.get("VCN_MODEL_PACK") or None,
            model_cache=os.environ.get("VCN_MODEL_CACHE") or None,
        ),
        "mlflow_tracking": MlflowResource(home=str(home), tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None),
        "device": DeviceResource(),
    }


defs = dg.Definitions(
    assets=all_assets, jobs=[title_pipeline_job, adapted_title_pipeline_job], resources=build_resources(vcn_home())
)
