"""Identity stage: kept tracks grouped into people, and the per-identity summary."""

import time

import dagster as dg
import numpy as np

from vcn_assets.adaptation import adapted_embeddings
from vcn_assets.checks_common import (
    assignment_problems,
    cooccurrence_problems,
    count_problems,
    materialization_metadata,
    report,
    title_check,
)
from vcn_assets.common import stage_version, title_asset, title_stage
from vcn_assets.faces import face_embeddings
from vcn_resources.corrections import title_constraints
from vcn_resources.media import MediaLibrary
from vcn_resources.results import (
    adapted_embeddings_current,
    detection_boxes,
    generic_embedder,
    stored_embeddings,
    stored_track_contexts,
    summarise_identities,
)
from vcn_resources.warehouse import Warehouse
from videoclusternet.clustering import DEFAULT_CLUSTERER, CutReport, make_clusterer
from videoclusternet.pipeline import cluster_tracks
from videoclusternet.quality import KEPT


class ClustersConfig(dg.Config):
    # "auto": "calibrated_link", average-link stopped by the title's own pairs of different people (best on the
    # evaluation clips, see the README's clustering table), or "average_link" where a threshold is given. Or a
    # name: "adaptive_merge" is VideoClusterNet's parameter-free clustering; "cooccurrence_cut", "first_neighbour"
    # (FINCH's first partition) and "hdbscan" are the other threshold-free options.
    clusterer: str = DEFAULT_CLUSTERER
    threshold: float | None = None  # cosine similarity for the average-link baseline; None: its default
    # The title's adapted model's embeddings, or the generic model's. None: as the title is registered
    # (`vcn run --adapt`; not adapted unless set: on the evaluation clips adaptation has not yet improved
    # clustering, see the README's ablation). The jobs say it: `title_pipeline` no, `adapted_title_pipeline` yes.
    adapt: bool | None = None


@title_asset("identities", {"python", "parquet"}, deps=[face_embeddings, adapted_embeddings])
def face_clusters(
    context: dg.AssetExecutionContext,
    config: ClustersConfig,
    warehouse: dg.ResourceParam[Warehouse],
    media: dg.ResourceParam[MediaLibrary],
) -> dg.MaterializeResult:
    """Kept tracks grouped by identity (tracks on screen together never share a cluster), and one
    `identities` row per cluster: tracks, faces, screen seconds, first/last seen, a representative face."""
    title = context.partition_key
    try:
        make_clusterer(config.clusterer, config.threshold)  # a wrong name fails here, before the title is touched
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    entry = media.find(title)
    adapt = bool(entry and entry.adapt) if config.adapt is None else config.adapt
    if adapt and not adapted_embeddings_current(warehouse, title):
        raise dg.Failure(
            f"title {title!r} has no adapted model made from its current faces to cluster with: run "
            "`adapted_title_pipeline` for it (`vcn run VIDEO --adapt`), or `vcn run VIDEO --no-adapt`"
        )
    with title_stage(context, warehouse, "face_clusters"):
        generic = generic_embedder(warehouse, title)
        clusterer = make_clusterer(config.clusterer, config.threshold)
        started = time.perf_counter()
        embedded_faces, face_track, raw = stored_embeddings(warehouse, title, adapt)
        tracks = warehouse.rows("tracks", title)
        kept = tracks["track"][tracks["status"] == KEPT]
        # People's corrections of the title's season that concern this title: what they set aside, and links.
        corrections = title_constraints(warehouse, title)
        set_aside = np.array([t for t in kept if (title, int(t)) in corrections.removed], np.int64)
        kept = np.setdiff1d(kept, set_aside)
        detections = warehouse.rows("face_detections", title)
        track_of = warehouse.rows("face_track_members", title)["track"]
        clothes = stored_track_contexts(warehouse, title, kept)  # weighed within the title (clustering/clothes.py)
        result = cluster_tracks(
            kept,
            face_track,
            raw,
            detections["frame"],
            track_of,
            clusterer,
            constraints=corrections,
            title=title,
            context=clothes,
            boxes=detection_boxes(detections),
            seconds=detections["timestamp"],
        )
        model_version = warehouse.adapted_model(title).name if adapt else generic
        why = [f"not a face (correction {corrections.removed[(title, int(t))]})" for t in set_aside]
        warehouse.write(
            "track_clusters",
            title,
            {
                "track": np.concatenate([result.tracks, set_aside]),
                "cluster": [*result.labels.tolist(), *[None] * len(set_aside)],
                "clusterer": [clusterer.describe()] * len(kept) + why,
                "model_version": [model_version] * (len(kept) + len(set_aside)),
            },
            context.run.run_id,
            stage_version(context),
        )
        identities = summarise_identities(
            warehouse, title, result.tracks, result.labels, track_of, detections, embedded_faces
        )
        warehouse.write("identities", title, identities, context.run.run_id, stage_version(context))
        for picture in (warehouse.title_dir(title) / "identities").glob("cluster_*.jpg"):
            if warehouse.home_relative(picture) not in identities["crop_path"]:  # a cluster of an earlier clustering
                picture.unlink()
        seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            "identities": len(identities["cluster"]),
            "kept_tracks": len(kept),
            "cannot_link_pairs": result.cannot_link_pairs,
            "tracks_with_clothes": int((np.abs(clothes).sum(axis=1) > 0).sum()),
            "set_aside_by_corrections": len(set_aside),
            "clusterer": clusterer.describe(),
            **cut_metadata(result.cut),
            "distance": result.loss,
            "model_version": model_version,
            "embeddings": "adapted" if adapt else "base",
            "seconds": round(seconds, 3),
        }
    )


def cut_metadata(cut: CutReport | None) -> dict:
    """Where the merging stopped, what evidence set that point, and whether it had to fall back to a threshold."""
    if cut is None:
        return {}
    where = {} if np.isnan(cut.similarity) else {"cut_at_similarity": round(cut.similarity, 4)}
    threshold = {} if np.isnan(cut.threshold) else {"cut_threshold": round(cut.threshold, 4)}
    return {
        **where,
        **threshold,
        "stopped_by": cut.stopped_by,
        "cut_merges": cut.merges,
        "cut_refusals": cut.refusals,
        "cut_fell_back_to_threshold": cut.fallback,
    }


@title_check(face_clusters)
def one_cluster_per_kept_track(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Every kept track has exactly one cluster and no other track has one, `identities` has a row per cluster,
    and the tables hold the tracks and identities the materialisation reported."""
    title = context.partition_key
    tracks = warehouse.rows("tracks", title)
    assignments, identities = warehouse.rows("track_clusters", title), warehouse.rows("identities", title)
    problems = assignment_problems(tracks["track"][tracks["status"] == KEPT], assignments, identities)
    clustered = int((~np.isnan(assignments["cluster"].astype(np.float64))).sum())  # not set aside by a correction
    counts = {"kept_tracks": clustered, "identities": len(identities["cluster"])}
    problems += count_problems(materialization_metadata(context), counts)
    return report(context, warehouse, problems, identities=len(identities["cluster"]))


@title_check(face_clusters)
def cooccurring_tracks_apart(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Tracks with faces on the same frame, two people on screen at once (not two boxes on one head), never share
    a cluster."""
    title = context.partition_key
    joined = [{track for _, track in group} for group in title_constraints(warehouse, title).must_link]
    detections = warehouse.rows("face_detections", title)
    problems = cooccurrence_problems(
        detections["frame"],
        warehouse.rows("face_track_members", title)["track"],
        warehouse.rows("track_clusters", title),
        joined,
        detection_boxes(detections),
    )
    to_fix = "see the corrections that join these tracks (vcn corrections TITLE) and undo the wrong one (vcn undo)"
    return report(context, warehouse, problems, to_fix)
