"""Jobs over the title partitions (partitioned like the assets they select), and which one runs a title."""

import dagster as dg

from videoclusternet.stages import stages_for


def stage_keys(adapt: bool) -> list[dg.AssetKey]:
    """The asset keys of a title's stages: adaptation's too for a title registered adapted."""
    return [dg.AssetKey(s.name) for s in stages_for(adapt)]


title_pipeline_job = dg.define_asset_job(
    name="title_pipeline",
    selection=dg.AssetSelection.assets(*stage_keys(adapt=False)),
    config={"ops": {"face_clusters": {"config": {"adapt": False}}}},
    description="Every stage for one title with the generic face model: frames, faces, tracks, embeddings, identities.",
)

adapted_title_pipeline_job = dg.define_asset_job(
    name="adapted_title_pipeline",
    selection=dg.AssetSelection.assets(*stage_keys(adapt=True)),
    config={"ops": {"face_clusters": {"config": {"adapt": True}}}},
    description="Every stage, with the face model adapted to the title and the tracks clustered with it.",
)


def pipeline_job_name(adapt: bool) -> str:
    """The job that runs a title as it is registered: adapted (`vcn run --adapt`) or not."""
    return (adapted_title_pipeline_job if adapt else title_pipeline_job).name


season_cast_job = dg.define_asset_job(
    name="season_cast_job",
    selection=dg.AssetSelection.assets(dg.AssetKey("season_cast")),
    description="Links the identities of a season's finished episodes into the season's persons.",
)
