"""Face stages: detections with aligned crops, quality-filtered tracks, face embeddings."""

import time
from pathlib import Path

import dagster as dg
import numpy as np

from vcn_assets.checks_common import (
    box_problems,
    count_problems,
    embedding_problems,
    materialization_metadata,
    no_faces_problems,
    report,
    title_check,
    track_problems,
)
from vcn_assets.common import StageProgress, content_version, stage_version, title_asset, title_stage
from vcn_assets.media import frames
from vcn_resources.corrections import rescued_tracks
from vcn_resources.face_models import FaceModelsResource
from vcn_resources.media import MediaLibrary
from vcn_resources.results import FACES_ARTIFACT, load_shots, load_title_faces
from vcn_resources.warehouse import Warehouse
from videoclusternet.embedding import choose_faces, faces_per_track, with_mirror
from videoclusternet.models.norms import norm_scale
from videoclusternet.pipeline import (
    PROBE_FACES_PER_TRACK,
    decoded_in_chunks,
    detect_faces,
    face_quality_score,
    track_faces,
)
from videoclusternet.quality import KEPT, QualityPolicy, face_size
from videoclusternet.shots import shot_of_frames
from videoclusternet.types import FaceDetections
from videoclusternet.video import file_sha256


@title_asset("faces", {"onnx", "parquet"}, deps=[frames])
def face_detections(
    context: dg.AssetExecutionContext,
    media: dg.ResourceParam[MediaLibrary],
    warehouse: dg.ResourceParam[Warehouse],
    face_models: FaceModelsResource,
) -> dg.MaterializeResult:
    """Faces on the manifest's frames: box, 5 landmarks and score, plus the face aligned to 112x112
    with the ArcFace 5-point template (kept per title on disk, not in DuckDB)."""
    title = context.partition_key
    with title_stage(context, warehouse, "face_detections"):
        manifest = warehouse.rows("frames", title)["frame"]
        fps = warehouse.require_title(title).fps
        detectors = face_models.detectors()
        detector = detectors[0]
        started = time.perf_counter()
        path = media.lookup(title).path
        if file_sha256(path) != warehouse.content_sha256(title):
            raise ValueError(f"{path}: the file changed after its frames were cut; run the title again")
        # Crops go to disk as frames are done; only the small per-face values stay, for the table.
        found: list[FaceDetections] = []
        sharp: list[np.ndarray] = []
        with (
            StageProgress(context, len(manifest), "faces", "frame") as progress,
            warehouse.artifact_appender(title, "faces", FACES_ARTIFACT) as artifact,
        ):
            stored = 0
            for faces in detect_faces(path, detectors, manifest, progress=progress.update):
                artifact.append(
                    {
                        "face": np.arange(stored, stored + len(faces)),
                        "crop_jpeg": faces.jpegs,
                        "appearance": list(faces.appearance),
                        "context": list(faces.context),
                    }
                )
                stored += len(faces)
                found.append(faces.found)
                sharp.append(faces.sharpness)
        seconds = time.perf_counter() - started
        det = FaceDetections.concat(found)
        n = warehouse.write(
            "face_detections",
            title,
            {
                "face": np.arange(len(det)),
                "frame": det.frame_idx,
                "timestamp": det.frame_idx / fps,
                "x1": det.boxes[:, 0],
                "y1": det.boxes[:, 1],
                "x2": det.boxes[:, 2],
                "y2": det.boxes[:, 3],
                "landmarks": list(det.landmarks.reshape(-1, 10)),
                "score": det.scores,
                "size_px": face_size(det.boxes),
                "sharpness": np.concatenate(sharp) if sharp else np.zeros(0, np.float32),
                "detector": [f"{detector.name}:{detector.version}"] * len(det),
            },
            context.run.run_id,
            stage_version(context),
        )
    return dg.MaterializeResult(
        metadata={
            "faces": n,
            "frames_scanned": len(manifest),
            "faces_per_frame": round(n / max(len(manifest), 1), 2),
            "ms_per_frame": round(1000 * seconds / max(len(manifest), 1), 2),
            "detector": f"{detector.name}:{detector.version}",
            "detector_workers": len(detectors),
            "crops": dg.MetadataValue.path(str(warehouse.artifact_path(title, "faces"))),
        },
        data_version=content_version(warehouse.read_title("face_detections", title)),
    )


@title_asset("faces", {"onnx", "parquet"}, deps=[face_detections])
def face_tracks(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse], face_models: FaceModelsResource
) -> dg.MaterializeResult:
    """Detections linked into tracks inside each shot (overlap + appearance, optimal assignment), with
    per-face quality and a per-track status: kept, low_quality, too_short or not_a_face, with the reason.
    Thresholds come from the title's own statistics."""
    title = context.partition_key
    with title_stage(context, warehouse, "face_tracks"):
        faces = load_title_faces(warehouse, title)
        fps = warehouse.require_title(title).fps
        face_shot = shot_of_frames(load_shots(warehouse, title), faces.detections.frame_idx)
        embedder = face_models.embedder()
        # The norm limits were measured with SFace: another embedder's are scaled to its own norms.
        policy = QualityPolicy(norm_scale=norm_scale(embedder, Path(face_models.cache_dir)))
        with StageProgress(context, None, "tracks: faces probed", "face") as progress:
            tracking = track_faces(faces, face_shot, fps, embedder, policy, progress=progress.update)
        s = tracking.summary
        det = faces.detections
        rescued = rescued_tracks(warehouse, title, det.frame_idx, det.boxes, tracking.track_of)
        for track, correction in rescued.items():
            at = int(np.flatnonzero(np.asarray(s.track) == track)[0])  # a person said it is a face: kept
            s.status[at], s.reason[at] = KEPT, f"rescued by correction {correction} (was {s.status[at]})"
        norms = tracking.face_norms
        warehouse.write(
            "face_track_members",
            title,
            {
                "face": np.arange(len(norms)),
                "track": tracking.track_of,
                "raw_norm": np.where(np.isnan(norms), None, norms),
            },
            context.run.run_id,
            stage_version(context),
        )
        warehouse.write(
            "tracks",
            title,
            {
                "track": s.track,
                "shot": s.shot,
                "first_frame": s.first_frame,
                "last_frame": s.last_frame,
                "faces": s.faces,
                "median_score": s.median_score,
                "best_size_px": s.best_size,
                "best_sharpness": s.best_sharpness,
                "median_raw_norm": np.where(np.isnan(s.median_norm), None, s.median_norm),
                "status": s.status,
                "reason": s.reason,
            },
            context.run.run_id,
            stage_version(context),
        )
        warehouse.write_artifact(
            title, "probe_embeddings", {"face": tracking.probe_faces, "raw": list(tracking.probe_embeddings)}
        )
    counts = {status: int(sum(1 for x in s.status if x == status)) for status in sorted(set(s.status))}
    return dg.MaterializeResult(
        metadata={
            "tracks": len(s.track),
            **{f"tracks_{k}": v for k, v in counts.items()},
            "faces_in_kept_tracks": int(s.faces[np.array(s.status) == KEPT].sum()) if len(s.track) else 0,
            "thresholds": tracking.thresholds.as_dict(),
        },
        data_version=content_version(
            warehouse.read_title("face_track_members", title), warehouse.read_title("tracks", title)
        ),
    )


class EmbeddingsConfig(dg.Config):
    # A quality-chosen sample spread over each kept track: `faces_per_track` of each. A budget of faces per
    # video second (a speed setting: 21 keeps pace with the video on 2 CPU cores) gives a title with many
    # tracks per second fewer, down to `min_faces_per_track`; off by default, because it makes a track's sample
    # depend on the length of the video it is in, so an episode cut from a clip would be clustered on other faces.
    faces_per_track: int = 12
    min_faces_per_track: int = 6
    faces_per_video_second: float | None = None
    # Each face's mirror image embedded too and added to it; None: the title's setting (`vcn run --no-mirror`).
    # Off, the embedding stage takes half the time; over random samples of faces it scores as well, but friends'
    # own sample loses 0.024 (README: the mirror image).
    mirror: bool | None = None


@title_asset("faces", {"onnx", "parquet"}, deps=[face_tracks])
def face_embeddings(
    context: dg.AssetExecutionContext,
    config: EmbeddingsConfig,
    media: dg.ResourceParam[MediaLibrary],
    warehouse: dg.ResourceParam[Warehouse],
    face_models: FaceModelsResource,
) -> dg.MaterializeResult:
    """Face-ID embeddings (raw, 128-D for SFace; with `mirror`, the sum of the face's and its mirror image's) of
    a quality-chosen sample of faces of every kept track;
    `track_embeddings` records how many faces of each track were embedded."""
    title = context.partition_key
    with title_stage(context, warehouse, "face_embeddings"):
        mirror = media.lookup(title).mirror if config.mirror is None else config.mirror
        faces = load_title_faces(warehouse, title)
        track_of = warehouse.rows("face_track_members", title)["track"]
        tracks = warehouse.rows("tracks", title)
        kept = tracks["track"][tracks["status"] == KEPT]
        duration_s = warehouse.require_title(title).duration_s
        per_track = faces_per_track(
            len(kept),
            duration_s,
            config.faces_per_video_second,
            config.faces_per_track,
            config.min_faces_per_track,
            step=PROBE_FACES_PER_TRACK,
        )
        quality = face_quality_score(faces.detections.scores, faces.sharpness)
        chosen = choose_faces(
            np.where(np.isin(track_of, kept), track_of, -1), faces.detections.frame_idx, quality, per_track
        )
        probe = warehouse.read_artifact(title, "probe_embeddings")
        known = dict(zip(probe.column("face").to_pylist(), probe.column("raw").to_numpy(zero_copy_only=False)))
        todo = np.array([f for f in chosen if int(f) not in known], np.int64)
        embedder = face_models.embedder()
        started = time.perf_counter()
        raw = np.zeros((len(chosen), embedder.dim), np.float32)
        with StageProgress(context, len(chosen), "embeddings", "face") as progress:
            for start, part, crops in decoded_in_chunks(faces.crops_jpeg, chosen):
                fresh = np.isin(part, todo)
                known.update(zip(part[fresh].tolist(), embedder.embed(crops[fresh])))
                upright = np.stack([known[int(f)] for f in part])
                raw[start : start + len(part)] = with_mirror(embedder, crops, upright) if mirror else upright
                progress.update(len(part))
        seconds = time.perf_counter() - started
        warehouse.write_artifact(
            title,
            "embeddings",
            {"face": chosen, "track": track_of[chosen], "raw": list(raw.astype(np.float32))},
        )
        embedded = np.bincount(np.searchsorted(kept, track_of[chosen]), minlength=len(kept)) if len(kept) else []
        warehouse.write(
            "track_embeddings",
            title,
            {
                "track": kept,
                "faces_embedded": embedded,
                "embedder": [f"{embedder.name}:{embedder.version}"] * len(kept),
            },
            context.run.run_id,
            stage_version(context),
        )
    return dg.MaterializeResult(
        metadata={
            "kept_tracks": len(kept),
            "faces_embedded": len(chosen),
            "faces_per_track": per_track,
            "reused_from_quality_probe": len(chosen) - len(todo),
            "mirror": mirror,
            "ms_per_face_embedding": round(1000 * seconds / max(len(todo) + (len(chosen) if mirror else 0), 1), 2),
            "embedder": f"{embedder.name}:{embedder.version}",
            "dim": embedder.dim,
        },
        data_version=content_version(
            warehouse.read_title("track_embeddings", title), warehouse.read_artifact(title, "embeddings")
        ),
    )


@title_check(face_detections)
def boxes_inside_frame(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Every face box lies inside the frame with x1 < x2 and y1 < y2, landmarks and scores are finite, faces
    sit on manifest frames, and the table holds the faces the materialisation reported."""
    title = context.partition_key
    detections, video = warehouse.rows("face_detections", title), warehouse.require_title(title)
    manifest = warehouse.rows("frames", title)["frame"]
    problems = box_problems(detections, video.width, video.height, manifest)
    counts = {"faces": len(detections["face"]), "frames_scanned": len(manifest)}
    problems += count_problems(materialization_metadata(context), counts)
    return report(context, warehouse, problems, faces=len(detections["face"]))


@title_check(face_detections, blocking=False)
def title_has_faces(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Warns when not one face was found in the whole title: most likely the wrong file, or a detector that
    does not suit the footage."""
    faces = len(warehouse.rows("face_detections", context.partition_key)["face"])
    to_fix = (
        "check that the video shows faces at least about 20 px tall; VCN_DETECTOR=retinaface tries another "
        "detector, and --stride 1 looks at every frame"
    )
    return report(context, warehouse, no_faces_problems(faces), to_fix, faces=faces)


@title_check(face_tracks)
def tracks_within_shots(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """No track crosses a shot cut, a face belongs to one track, a track has at most one face per frame, and
    the table holds the tracks the materialisation reported."""
    title = context.partition_key
    tracks = warehouse.rows("tracks", title)
    problems = track_problems(
        warehouse.rows("face_detections", title)["frame"],
        warehouse.rows("face_track_members", title),
        tracks,
        warehouse.rows("shots", title),
    )
    problems += count_problems(materialization_metadata(context), {"tracks": len(tracks["track"])})
    return report(context, warehouse, problems, tracks=len(tracks["track"]))


@title_check(face_embeddings)
def kept_tracks_embedded(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Every kept track, and no other, has finite embeddings of its faces by a named embedder, in the numbers
    the materialisation reported."""
    title = context.partition_key
    tracks = warehouse.rows("tracks", title)
    kept = tracks["track"][tracks["status"] == KEPT]
    embedded = warehouse.read_artifact(title, "embeddings")
    raw = embedded.column("raw").to_numpy(zero_copy_only=False)
    problems = embedding_problems(
        kept,
        warehouse.rows("track_embeddings", title),
        embedded.column("track").to_numpy(),
        np.stack(raw) if len(raw) else np.zeros((0, 1)),
    )
    counts = {"kept_tracks": len(kept), "faces_embedded": len(raw)}
    problems += count_problems(materialization_metadata(context), counts)
    return report(context, warehouse, problems, kept_tracks=len(kept), faces_embedded=len(raw))
