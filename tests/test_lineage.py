"""Lineage: every row names the Dagster run and the stage's code version that wrote it, model-made rows
name the model, materialisations carry code and data versions, and the adapted model links to its MLflow run."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest

from vcn_assets.common import content_version
from vcn_dagster.definitions import all_assets
from vcn_resources.tracking import MlflowResource
from vcn_resources.warehouse import Warehouse

TITLE = "clip"
WRITER = {  # table -> the asset that writes it
    "shots": "frames",
    "frames": "frames",
    "face_detections": "face_detections",
    "face_track_members": "face_tracks",
    "tracks": "face_tracks",
    "track_embeddings": "face_embeddings",
    "adapted_models": "adapted_model",
    "track_clusters": "face_clusters",
    "identities": "face_clusters",
}
CODE_VERSIONS = {key.to_user_string(): v for a in all_assets for key, v in a.code_versions_by_key.items()}


@pytest.fixture(scope="module")
def latest(processed) -> dict[str, dg.EventLogRecord]:
    """The clip's latest materialisation of each asset."""
    with dg.DagsterInstance.from_config(str(processed.home / "dagster")) as instance:
        return {
            asset: instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[TITLE]), limit=1
            ).records[0]
            for asset in set(WRITER.values())
        }


def test_rows_carry_the_run_and_code_version_of_their_stage(processed, latest):
    con = Warehouse(processed.home).connect()
    for table, asset in WRITER.items():
        lineage = con.execute(f"SELECT DISTINCT run_id, code_version FROM {table} WHERE title = ?", [TITLE]).fetchall()
        assert lineage == [(latest[asset].run_id, CODE_VERSIONS[asset])], table
    with dg.DagsterInstance.from_config(str(processed.home / "dagster")) as instance:
        (run_id,) = con.execute("SELECT run_id FROM titles WHERE title = ?", [TITLE]).fetchone()
        assert instance.get_run_by_id(run_id).tags["vcn/launched_by"] == "vcn run"


def test_model_made_rows_name_their_model(processed, latest):
    con = Warehouse(processed.home).connect()

    def reported(asset: str, key: str) -> str:
        return latest[asset].asset_materialization.metadata[key].value

    def stored(sql: str) -> list[str]:
        return [r[0] for r in con.execute(sql, [TITLE]).fetchall()]

    detector = stored("SELECT DISTINCT detector FROM face_detections WHERE title = ?")
    assert detector == [reported("face_detections", "detector")]
    embedder = stored("SELECT DISTINCT embedder FROM track_embeddings WHERE title = ?")
    assert embedder == [reported("face_embeddings", "embedder")]
    clusters_model = stored("SELECT DISTINCT model_version FROM cluster_assignments WHERE title = ?")
    assert clusters_model == [reported("face_clusters", "model_version")]
    assert stored("SELECT model_version FROM adapted_models WHERE title = ?") == [
        reported("adapted_model", "model_version")
    ]


def test_materialisations_carry_code_and_data_versions(latest):
    for asset, record in latest.items():
        tags = record.asset_materialization.tags
        assert tags["dagster/code_version"] == CODE_VERSIONS[asset]
        if asset != "face_clusters":  # no stage reads its output, so it keeps Dagster's own data version
            assert tags["dagster/data_version_is_user_provided"] == "true", asset


def test_data_version_ignores_lineage_columns():
    rows = {"title": ["t", "t"], "face": [0, 1], "run_id": ["a", "a"], "code_version": ["1", "1"]}
    same = content_version(pa.table({**rows, "run_id": ["b", "b"], "code_version": ["2", "2"]}))
    assert content_version(pa.table(rows)) == same
    assert content_version(pa.table({**rows, "face": [0, 2]})) != same


def test_adapted_model_links_its_mlflow_run(processed, latest):
    metadata = latest["adapted_model"].asset_materialization.metadata
    run = MlflowResource(home=str(processed.home)).client().get_run(metadata["mlflow_run_id"].value)
    link = metadata["mlflow_run"]
    assert isinstance(link, dg.UrlMetadataValue)
    assert link.url.endswith(f"/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
    assert run.data.tags["dagster/run_id"] == latest["adapted_model"].run_id
    assert MlflowResource(home="x", tracking_uri="http://mlflow:5000").run_url("3", "abc") == (
        "http://mlflow:5000/#/experiments/3/runs/abc"
    )
