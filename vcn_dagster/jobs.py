"""Jobs over the title partitions (partitioned like the assets they select), and which one runs a title."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from assets.adaptation import adapted_embeddings, adapted_model
from assets.faces import face_detections, face_embeddings, face_tracks
from assets.identities import face_clusters
from assets.media import frames

PIPELINE_ASSETS = [frames, face_detections, face_tracks, face_embeddings, face_clusters]
ADAPTATION_ASSETS = [adapted_model, adapted_embeddings]
ALL_STAGES = [*PIPELINE_ASSETS, *ADAPTATION_ASSETS]

title_pipeline_job = dg.define_asset_job(
    name="title_pipeline",
    selection=dg.AssetSelection.assets(*PIPELINE_ASSETS),
    config={"ops": {"face_clusters": {"config": {"use_adapted": False}}}},
    description="Every stage for one title with the generic face model: frames, faces, tracks, embeddings, identities.",
)

adapted_title_pipeline_job = dg.define_asset_job(
    name="adapted_title_pipeline",
    selection=dg.AssetSelection.assets(*ALL_STAGES),
    config={"ops": {"face_clusters": {"config": {"use_adapted": True}}}},
    description="Every stage, with the face model adapted to the title and the tracks clustered with it.",
)


def pipeline_job_for(adapt: bool) -> UnresolvedAssetJobDefinition:
    """The job that runs a title as it is registered: adapted (`vcn run --adapt`) or not."""
    return adapted_title_pipeline_job if adapt else title_pipeline_job


def stages_for(adapt: bool) -> list[dg.AssetsDefinition]:
    """The stages of `pipeline_job_for(adapt)`."""
    return ALL_STAGES if adapt else PIPELINE_ASSETS


def stage_keys(adapt: bool) -> list[dg.AssetKey]:
    """The asset keys of `stages_for(adapt)`."""
    return [asset.key for asset in stages_for(adapt)]
