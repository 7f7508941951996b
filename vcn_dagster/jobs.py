"""Jobs over the title partitions (partitioned like the assets they select)."""

import dagster as dg

title_pipeline_job = dg.define_asset_job(
    name="title_pipeline",
    selection=dg.AssetSelection.groups("media", "faces", "identities"),
    description="Every stage for one title with the generic face model: frames, faces, tracks, embeddings, identities.",
)

adapted_title_pipeline_job = dg.define_asset_job(
    name="adapted_title_pipeline",
    selection=dg.AssetSelection.groups("media", "faces", "adaptation", "identities"),
    config={"ops": {"face_clusters": {"config": {"use_adapted": True}}}},
    description="Every stage, with the face model adapted to the title and the tracks clustered with it.",
)
