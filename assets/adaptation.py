"""Adaptation stage: the face-ID model self-distilled on each title, logged in MLflow, and the
embeddings it gives."""

import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np

from vcn_assets.checks_common import (
    adapted_embedding_problems,
    adapted_model_problems,
    count_problems,
    materialization_metadata,
    report,
    title_check,
)
from vcn_assets.common import content_version, stage_version, title_asset, title_stage
from vcn_assets.faces import face_embeddings
from vcn_resources.corrections import title_constraints
from vcn_resources.face_models import FaceModelsResource
from vcn_resources.results import seen_together, stored_crops
from vcn_resources.tracking import DeviceResource, MlflowResource
from vcn_resources.warehouse import Warehouse
from videoclusternet.adaptation import require_adaptation
from videoclusternet.pipeline import decode_crops
from videoclusternet.titles import series_of


class AdaptationConfig(dg.Config):
    seed: int = 0
    warmup_epochs: int = 20
    rounds: int = 2
    epochs_per_round: int = 2


def training_faces(warehouse: Warehouse, title: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, their track ids, aligned crops) of the faces `face_embeddings` chose."""
    emb = warehouse.read_artifact(title, "embeddings")
    faces = emb.column("face").to_numpy()
    crops = decode_crops(stored_crops(warehouse, title), faces)
    return faces, emb.column("track").to_numpy(), crops


@title_asset("adaptation", {"pytorch", "mlflow"}, deps=[face_embeddings])
def adapted_model(
    context: dg.AssetExecutionContext,
    config: AdaptationConfig,
    warehouse: dg.ResourceParam[Warehouse],
    face_models: FaceModelsResource,
    mlflow_tracking: MlflowResource,
    device: DeviceResource,
) -> dg.MaterializeResult:
    """The title's own face-ID model: SFace self-distilled (EMA teacher, centring, no negatives) on
    pairs from inside tracks and coarse track-to-track matches; a registered MLflow model version."""
    # torch is imported here, not at module load: most runs never adapt, and it costs seconds to import.
    require_adaptation()
    import onnx
    import torch

    from videoclusternet.adaptation.adapt import adapt_backbone
    from videoclusternet.adaptation.backbone import backbone_for, onnx_trunk
    from videoclusternet.adaptation.distill import DistillConfig

    title = context.partition_key
    with title_stage(context, warehouse, "adapted_model"):
        faces, face_track, crops = training_faces(warehouse, title)
        # People's corrections teach the model too: their merges and moves as positives, their "not the same
        # person" as pairs never linked.
        corrections = title_constraints(warehouse, title)
        cannot_link = seen_together(warehouse, title, np.unique(face_track)) | {
            (a[1], b[1]) for a, b in corrections.cannot_link
        }
        confirmed = [{track for _, track in group} for group in corrections.must_link]
        embedder = face_models.embedder()
        cache = Path(face_models.cache_dir)
        backbone = backbone_for(embedder)
        distill = DistillConfig(
            seed=config.seed,
            warmup_epochs=config.warmup_epochs,
            rounds=config.rounds,
            epochs_per_round=config.epochs_per_round,
        )
        where = device.resolve()
        mlflow = mlflow_tracking.client()
        series = series_of(title)
        tags = {
            "dagster/run_id": context.run.run_id,
            "dagster/partition": title,
            "code_version": stage_version(context),
        }
        with mlflow.start_run(experiment_id=mlflow_tracking.experiment_id(series), run_name=title, tags=tags) as run:
            mlflow.log_params(
                {**distill.as_params(), "device": where, "faces": len(faces), "tracks": len(set(face_track))}
            )
            started = time.perf_counter()
            adaptation = adapt_backbone(
                backbone,
                crops,
                face_track,
                cannot_link,
                distill,
                device=where,
                trunk_features=onnx_trunk(embedder, backbone, cache) if where == "cpu" else None,
                on_epoch=lambda s: mlflow.log_metrics({"loss": s["loss"], "links": s["links"]}, step=int(s["epoch"])),
                confirmed=confirmed,
            )
            seconds = time.perf_counter() - started
            stats = {
                "intra_track_pairs": adaptation.intra_track_pairs,
                "track_links": adaptation.track_links,
                "confirmed_links": adaptation.confirmed_links,
                "links_rejected_by_cooccurrence": adaptation.links_rejected_by_cooccurrence,
                "adaptation_seconds": seconds,
            }
            mlflow.log_metrics(stats)
            mlflow.set_tag("checkpoint_sha256", adaptation.checkpoint_sha256)
            # No pickle: the weights alone (loaded back with `weights_only`, into the embedder's own architecture,
            # and checked against the checkpoint's SHA-256), and the ONNX export as the registered model.
            with tempfile.TemporaryDirectory() as tmp:
                weights = Path(tmp) / WEIGHTS_FILE
                torch.save(adaptation.model.state_dict(), weights)
                mlflow.log_artifact(str(weights), artifact_path="weights")
                onnx_path = Path(tmp) / "adapted_embedder.onnx"
                export_onnx(adaptation.model, onnx_path)
                info = mlflow.onnx.log_model(
                    onnx.load(str(onnx_path)), name="model", registered_model_name=f"vcn-{series}"
                )
        warehouse.write(
            "adapted_models",
            title,
            {
                "mlflow_run_id": [run.info.run_id],
                "model_uri": [info.model_uri],
                "registered_model": [f"vcn-{series}"],
                "model_version": [str(info.registered_model_version)],
                "checkpoint_sha256": [adaptation.checkpoint_sha256],
                "device": [where],
                **{k: [v] for k, v in stats.items()},
            },
            context.run.run_id,
            stage_version(context),
        )
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": run.info.run_id,
            "mlflow_run": dg.MetadataValue.url(mlflow_tracking.run_url(run.info.experiment_id, run.info.run_id)),
            "model_uri": info.model_uri,
            "registered_model": f"vcn-{series}",
            "model_version": str(info.registered_model_version),
            "tracking_uri": mlflow_tracking.uri,
            "checkpoint_sha256": adaptation.checkpoint_sha256,
            "device": where,
            "trained_whole_backbone": adaptation.trained_whole_backbone,
            "final_loss": round(adaptation.distill.epochs[-1]["loss"], 4) if adaptation.distill.epochs else 0.0,
            **{k: round(float(v), 3) for k, v in stats.items()},
        },
        data_version=dg.DataVersion(adaptation.checkpoint_sha256[:16]),
    )


WEIGHTS_FILE = "state_dict.pt"


def load_adapted(mlflow_tracking: MlflowResource, run_id: str, architecture, checkpoint: str):
    """The adapted weights of an MLflow run, loaded without unpickling code (`weights_only`) into
    `architecture` (the embedder's torch twin); a ValueError when they are not the checkpoint recorded."""
    import torch

    from videoclusternet.adaptation.adapt import checkpoint_sha256

    mlflow = mlflow_tracking.client()
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"weights/{WEIGHTS_FILE}")
    architecture.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if checkpoint_sha256(architecture) != checkpoint:
        raise ValueError(
            f"the adapted weights of MLflow run {run_id} are not the checkpoint {checkpoint[:12]} recorded"
        )
    return architecture.eval()


def export_onnx(model, path: Path) -> None:
    import torch

    torch.onnx.export(
        model,
        torch.zeros(1, 3, 112, 112),
        str(path),
        input_names=["data"],
        output_names=["embedding"],
        dynamic_axes={"data": {0: "batch"}, "embedding": {0: "batch"}},
        dynamo=False,
    )


@title_asset("adaptation", {"pytorch", "parquet"}, deps=[adapted_model])
def adapted_embeddings(
    context: dg.AssetExecutionContext,
    warehouse: dg.ResourceParam[Warehouse],
    face_models: FaceModelsResource,
    mlflow_tracking: MlflowResource,
    device: DeviceResource,
) -> dg.MaterializeResult:
    """Embeddings of the same faces as `face_embeddings`, by the title's adapted model, loaded back from
    MLflow by the model URI that `adapted_model` recorded."""
    require_adaptation()
    from videoclusternet.adaptation.adapt import embed_faces, same_trunk
    from videoclusternet.adaptation.backbone import backbone_for, onnx_trunk

    title = context.partition_key
    with title_stage(context, warehouse, "adapted_embeddings"):
        recorded = warehouse.adapted_model(title)
        where = device.resolve()
        embedder = face_models.embedder()
        base = backbone_for(embedder)
        model = load_adapted(
            mlflow_tracking, recorded.mlflow_run_id, backbone_for(embedder), recorded.checkpoint_sha256
        )
        # A model adapted on the CPU kept the generic trunk: run that part in onnxruntime, which is faster.
        cpu_trunk = where == "cpu" and same_trunk(model, base)
        trunk = onnx_trunk(embedder, base, Path(face_models.cache_dir)) if cpu_trunk else None
        faces, face_track, crops = training_faces(warehouse, title)
        started = time.perf_counter()
        raw = embed_faces(model, crops, where, trunk)
        seconds = time.perf_counter() - started
        warehouse.write_artifact(
            title, "adapted_embeddings", {"face": faces, "track": face_track, "raw": list(raw.astype(np.float32))}
        )
    return dg.MaterializeResult(
        metadata={
            "faces": len(faces),
            "model_uri": recorded.model_uri,
            "trunk_in_onnxruntime": trunk is not None,
            "ms_per_face": round(1000 * seconds / max(len(faces), 1), 2),
        },
        data_version=content_version(warehouse.read_artifact(title, "adapted_embeddings")),
    )


@title_check(adapted_model)
def adapted_model_registered(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """The title has one `adapted_models` row with a model URI, registered version and checkpoint hash, and
    they are the ones the materialisation reported."""
    row = warehouse.rows("adapted_models", context.partition_key)
    problems = adapted_model_problems(row, materialization_metadata(context))
    return report(context, warehouse, problems)


@title_check(adapted_embeddings)
def adapted_embeddings_complete(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """The adapted model embedded every face the generic one did, each to a finite non-zero vector, as many as
    the materialisation reported."""
    title = context.partition_key
    adapted = warehouse.read_artifact(title, "adapted_embeddings")
    raw = adapted.column("raw").to_numpy(zero_copy_only=False)
    problems = adapted_embedding_problems(
        warehouse.read_artifact(title, "embeddings").column("face").to_numpy(),
        adapted.column("face").to_numpy(),
        np.stack(raw) if len(raw) else np.zeros((0, 1)),
    )
    problems += count_problems(materialization_metadata(context), {"faces": len(raw)})
    return report(context, warehouse, problems, faces=len(raw))
