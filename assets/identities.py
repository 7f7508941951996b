"""Identity stage: kept tracks grouped into people, and the per-identity summary."""

import time
from pathlib import Path

import dagster as dg
import numpy as np

from assets.adaptation import adapted_embeddings
from assets.checks_common import (
    assignment_problems,
    cooccurrence_problems,
    count_problems,
    materialization_metadata,
    report,
    title_check,
)
from assets.common import stage_version, title_asset, title_stage
from assets.faces import face_embeddings
from resources import MediaLibraryResource, WarehouseResource
from videoclusternet.clustering import DEFAULT_CLUSTERER, make_clusterer
from videoclusternet.clustering.cooccurrence_cut import CutReport
from videoclusternet.pipeline import cluster_tracks
from videoclusternet.quality import KEPT


class ClustersConfig(dg.Config):
    # "auto": average-link (best on the evaluation clips, see the README's clustering table) for SFace's
    # embeddings, for which its threshold was chosen; "cooccurrence_cut" for another model's. Or a name:
    # "adaptive_merge" is VideoClusterNet's parameter-free clustering; "cooccurrence_cut", "first_neighbour"
    # (FINCH's first partition) and "hdbscan" are the other threshold-free options.
    clusterer: str = DEFAULT_CLUSTERER
    threshold: float = 0.3  # cosine similarity for the average-link baseline
    # The title's adapted model's embeddings, or the generic model's. None: as the title is registered
    # (`vcn run --adapt`; not adapted unless set: on the evaluation clips adaptation has not yet improved
    # clustering, see the README's ablation). The jobs say it: `title_pipeline` no, `adapted_title_pipeline` yes.
    use_adapted: bool | None = None


@title_asset("identities", {"python", "parquet"}, deps=[face_embeddings, adapted_embeddings])
def face_clusters(
    context: dg.AssetExecutionContext,
    config: ClustersConfig,
    warehouse: WarehouseResource,
    media: MediaLibraryResource,
) -> dg.MaterializeResult:
    """Kept tracks grouped by identity (tracks on screen together never share a cluster), and one
    `identities` row per cluster: tracks, faces, screen seconds, first/last seen, a representative face."""
    title = context.partition_key
    try:
        make_clusterer(config.clusterer, config.threshold)  # a wrong name fails here, before the title is touched
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    use_adapted = media.adapts(title) if config.use_adapted is None else config.use_adapted
    if use_adapted and not adapted_embeddings_current(warehouse, title):
        raise dg.Failure(
            f"title {title!r} has no adapted model made from its current faces to cluster with: run "
            "`adapted_title_pipeline` for it (`vcn run VIDEO --adapt`), or `vcn run VIDEO --no-adapt`"
        )
    with title_stage(context, warehouse, "face_clusters"):
        generic = generic_embedder(warehouse, title)
        clusterer = make_clusterer(config.clusterer, config.threshold, embedder=generic.split(":")[0])
        started = time.perf_counter()
        emb = warehouse.read_artifact(title, "adapted_embeddings" if use_adapted else "embeddings")
        raw = emb.column("raw").to_numpy(zero_copy_only=False)
        face_track = emb.column("track").to_numpy()
        tracks = warehouse.rows("tracks", title)
        kept = tracks["track"][tracks["status"] == KEPT]
        detections = warehouse.rows("face_detections", title)
        track_of = warehouse.rows("face_track_members", title)["track"]
        result = cluster_tracks(
            kept, face_track, np.stack(raw) if len(raw) else np.zeros((0, 1)), detections["frame"], track_of, clusterer
        )
        model_version = adapted_model_version(warehouse, title) if use_adapted else generic
        warehouse.write(
            "cluster_assignments",
            title,
            {
                "track": result.tracks,
                "cluster": result.labels,
                "clusterer": [clusterer.describe()] * len(kept),
                "model_version": [model_version] * len(kept),
            },
            context.run.run_id,
            stage_version(context),
        )
        identities = summarise_identities(
            warehouse, title, result.tracks, result.labels, track_of, detections, emb.column("face").to_numpy()
        )
        warehouse.write("identities", title, identities, context.run.run_id, stage_version(context))
        for picture in (warehouse.title_dir(title) / "identities").glob("cluster_*.jpg"):
            if str(picture) not in identities["crop_path"]:  # a cluster of an earlier clustering
                picture.unlink()
        seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            "identities": len(identities["cluster"]),
            "kept_tracks": len(kept),
            "cannot_link_pairs": result.cannot_link_pairs,
            "clusterer": clusterer.describe(),
            **cut_metadata(result.cut),
            "distance": result.loss,
            "model_version": model_version,
            "embeddings": "adapted" if use_adapted else "base",
            "seconds": round(seconds, 3),
        }
    )


def adapted_embeddings_current(warehouse: WarehouseResource, title: str) -> bool:
    """The title has adapted embeddings, of the very faces its generic embeddings hold now (a re-run of the
    face stages without adaptation leaves the adapted ones describing the faces of before)."""
    if not warehouse.has_artifact(title, "adapted_embeddings"):
        return False
    faces = warehouse.read_artifact(title, "embeddings", columns=["face"]).column("face")
    return warehouse.read_artifact(title, "adapted_embeddings", columns=["face"]).column("face").equals(faces)


def cut_metadata(cut: CutReport | None) -> dict:
    """Where the co-occurrence cut stopped, and whether it had to fall back to the threshold."""
    if cut is None:
        return {}
    where = {} if np.isnan(cut.similarity) else {"cut_at_similarity": round(cut.similarity, 4)}
    return {**where, "cut_merges": cut.merges, "cut_refusals": cut.refusals, "cut_fell_back_to_threshold": cut.fallback}


def adapted_model_version(warehouse: WarehouseResource, title: str) -> str:
    """`vcn-<series>/<version>` of the title's adapted model."""
    row = warehouse.rows("adapted_models", title)
    return f"{row['registered_model'][0]}/{row['model_version'][0]}"


def generic_embedder(warehouse: WarehouseResource, title: str) -> str:
    """`<embedder>:<hash>` of the generic model that embedded the title's faces ("" for no faces)."""
    embedder = warehouse.rows("track_embeddings", title)["embedder"]
    return str(embedder[0]) if len(embedder) else ""


def summarise_identities(
    warehouse: WarehouseResource,
    title: str,
    tracks: np.ndarray,
    labels: np.ndarray,
    track_of: np.ndarray,
    detections: dict[str, np.ndarray],
    embedded_faces: np.ndarray,
) -> dict[str, list]:
    """Per cluster: counts, screen time (distinct frames x frame step) and the sharpest embedded face as its picture."""
    fps = float(warehouse.rows("titles", title)["fps"][0])
    manifest = warehouse.rows("frames", title)["frame"]
    step_s = (float(manifest[1] - manifest[0]) if len(manifest) > 1 else 1.0) / fps
    crops = warehouse.read_artifact(title, "faces").column("crop_jpeg")
    folder = warehouse.title_dir(title) / "identities"
    folder.mkdir(exist_ok=True)
    out: dict[str, list] = {
        k: [] for k in ("cluster", "tracks", "faces", "screen_seconds", "first_seen_s", "last_seen_s", "crop_path")
    }
    face_cluster = np.full(len(track_of), -1, np.int64)
    for t, c in zip(tracks, labels):
        face_cluster[track_of == t] = c
    quality = detections["score"] * np.log1p(detections["sharpness"])
    for c in np.unique(labels):
        members = np.flatnonzero(face_cluster == c)
        candidates = np.intersect1d(members, embedded_faces)
        best = int(candidates[np.argmax(quality[candidates])]) if len(candidates) else int(members[0])
        crop_path = folder / f"cluster_{int(c)}.jpg"
        crop_path.write_bytes(crops[best].as_py())
        out["cluster"].append(int(c))
        out["tracks"].append(int((labels == c).sum()))
        out["faces"].append(len(members))
        out["screen_seconds"].append(round(len(np.unique(detections["frame"][members])) * step_s, 3))
        out["first_seen_s"].append(float(detections["timestamp"][members].min()))
        out["last_seen_s"].append(float(detections["timestamp"][members].max()))
        out["crop_path"].append(str(Path(crop_path)))
    return out


@title_check(face_clusters)
def one_cluster_per_kept_track(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every kept track has exactly one cluster and no other track has one, `identities` has a row per cluster,
    and the tables hold the tracks and identities the materialisation reported."""
    title = context.partition_key
    tracks = warehouse.rows("tracks", title)
    assignments, identities = warehouse.rows("cluster_assignments", title), warehouse.rows("identities", title)
    problems = assignment_problems(tracks["track"][tracks["status"] == KEPT], assignments, identities)
    counts = {"kept_tracks": len(assignments["track"]), "identities": len(identities["cluster"])}
    problems += count_problems(materialization_metadata(context), counts)
    return report(context, warehouse, problems, identities=len(identities["cluster"]))


@title_check(face_clusters)
def cooccurring_tracks_apart(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Tracks with faces on the same frame, two people on screen at once, never share a cluster."""
    title = context.partition_key
    problems = cooccurrence_problems(
        warehouse.rows("face_detections", title)["frame"],
        warehouse.rows("face_track_members", title)["track"],
        warehouse.rows("cluster_assignments", title),
    )
    return report(context, warehouse, problems)
