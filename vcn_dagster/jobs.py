"""Jobs over the title partitions."""

import dagster as dg

from vcn_dagster.partitions import titles_partitions

title_pipeline_job = dg.define_asset_job(
    name="title_pipeline",
    selection=dg.AssetSelection.groups("media", "faces", "identities"),
    partitions_def=titles_partitions,
    description="Every stage for one title: frames, faces, tracks, embeddings, identities.",
)
