"""What the asset checks share: the rules they apply, and how a check reports on a title.

Each rule is a plain function over a title's rows that returns the problems it found (empty when
the data is sound), so it can be tried on hand-made rows without Dagster. The checks themselves sit
at the end of the module of the asset they check.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg
import numpy as np

from vcn_assets.partitions import seasons_partitions, titles_partitions
from vcn_resources.warehouse import Warehouse
from videoclusternet.clustering import cooccurring_pairs
from videoclusternet.stages import STAGE_NAMES, stage

Rows = Mapping[str, np.ndarray]
LISTED = 5  # ids quoted in a problem; the count says how many there are


def title_check(
    asset: dg.AssetsDefinition, blocking: bool = True, partitions_def: dg.PartitionsDefinition = titles_partitions
) -> Callable[[Callable], dg.AssetChecksDefinition]:
    """`dg.asset_check` on a per-title asset, evaluated per title partition. A failed blocking check is an
    error that stops the title's later stages in the run; a failed non-blocking one is a warning."""

    def decorate(fn: Callable) -> dg.AssetChecksDefinition:
        # Partitioned checks are a preview in Dagster 1.13; without them a result would not name its title.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(asset=asset, blocking=blocking, partitions_def=partitions_def)(fn)

    return decorate


def season_check(asset: dg.AssetsDefinition) -> Callable[[Callable], dg.AssetChecksDefinition]:
    """`dg.asset_check` on a per-season asset, evaluated per season partition."""
    return title_check(asset, blocking=True, partitions_def=seasons_partitions)


def materialization_metadata(context: dg.AssetCheckExecutionContext) -> dict[str, Any]:
    """The metadata values of the checked asset's latest materialisation of this title."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.check_specs[0].asset_key, asset_partitions=[context.partition_key]),
        limit=1,
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


# What to do when a check of the rows' own consistency fails: the stages wrote rows that do not fit together,
# which a run interrupted at a bad moment or a file changed under it can cause, and otherwise only a bug.
RUN_AGAIN = "run the title again (vcn run VIDEO); if this check fails again, report it as a bug with this line"


def report(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    problems: list[str],
    to_fix: str = RUN_AGAIN,
    **metadata: Any,
) -> dg.AssetCheckResult:
    """The check's result; `to_fix` says what the user can do when it fails. A failed blocking check also marks
    the title failed, with the problems and what to do as the reason, as a failed stage does."""
    spec = context.check_specs[0]
    checked = spec.asset_key.to_user_string()
    if problems and spec.blocking and checked in STAGE_NAMES:  # a title's stage: the title has failed
        warehouse.update_title(
            context.partition_key,
            context.run.run_id,
            stage(checked).version,
            status="failed",
            stage=checked,
            error=f"{checked} check {spec.name}: {'; '.join(problems)}; to fix: {to_fix}",
        )
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if spec.blocking else dg.AssetCheckSeverity.WARN,
        metadata={"problems": "\n".join(problems) or "none", **({"to_fix": to_fix} if problems else {}), **metadata},
    )


def _some(ids: np.ndarray | list[int]) -> str:
    ids = np.asarray(ids)
    shown = ", ".join(str(i) for i in ids[:LISTED].tolist())
    return f"{len(ids)} ({shown}{', ...' if len(ids) > LISTED else ''})"


def count_problems(metadata: Mapping[str, Any], counts: Mapping[str, int]) -> list[str]:
    """Each count the materialisation reported equals the count in the tables."""
    problems = []
    for key, n in counts.items():
        if key not in metadata:
            problems.append(f"the materialisation reported no {key!r}")
        elif int(metadata[key]) != n:
            problems.append(f"the materialisation reported {key}={metadata[key]} but the tables hold {n}")
    return problems


def shot_problems(manifest: Rows, shots: Rows) -> list[str]:
    """Frames were decoded and cut into shots: shots tile the video from frame 0 without gap or overlap, and the
    manifest's frames increase and each lies inside the shot it names."""
    if not len(manifest["frame"]):
        return ["no frames decoded"]
    if not len(shots["shot"]):
        return ["no shots found"]
    problems = []
    order = np.argsort(shots["shot"])
    ids, start, end = shots["shot"][order], shots["start_frame"][order], shots["end_frame"][order]
    gaps = np.flatnonzero((end < start) | np.r_[start[0] != 0, start[1:] != end[:-1] + 1])
    if len(gaps):
        problems.append(f"shots that do not follow on from the one before: {_some(ids[gaps])}")
    frame, shot = manifest["frame"], manifest["shot"]
    if np.any(np.diff(frame) <= 0) or not np.all(np.isfinite(manifest["timestamp"])):
        problems.append("the frame manifest is not in frame order with finite timestamps")
    at = np.clip(np.searchsorted(ids, shot), 0, len(ids) - 1)
    outside = (ids[at] != shot) | (frame < start[at]) | (frame > end[at])
    if outside.any():
        problems.append(f"manifest frames outside the shot they name: {_some(frame[outside])}")
    return problems


def box_problems(detections: Rows, width: int, height: int, manifest_frames: np.ndarray) -> list[str]:
    """Boxes lie inside the frame (0 <= x1 < x2 <= width, 0 <= y1 < y2 <= height), landmarks and scores are
    finite, faces are numbered 0..n-1 (other tables index them so) and sit on frames of the manifest."""
    face = detections["face"]
    x1, y1, x2, y2 = (detections[k] for k in ("x1", "y1", "x2", "y2"))
    problems = []
    inside = (0 <= x1) & (x1 < x2) & (x2 <= width) & (0 <= y1) & (y1 < y2) & (y2 <= height)  # NaN is outside
    if not inside.all():
        problems.append(f"boxes outside the {width}x{height} frame or empty: faces {_some(face[~inside])}")
    landmarks = np.stack(detections["landmarks"]) if len(face) else np.zeros((0, 10))
    unsound = ~(np.isfinite(landmarks).all(axis=1) & np.isfinite(detections["score"]))
    if unsound.any():
        problems.append(f"landmarks or scores not finite: faces {_some(face[unsound])}")
    if not np.array_equal(face, np.arange(len(face))):
        problems.append("face ids are not 0..n-1 in order")
    off = ~np.isin(detections["frame"], manifest_frames)
    if off.any():
        problems.append(f"faces on frames not in the manifest: faces {_some(face[off])}")
    return problems


def no_faces_problems(faces: int) -> list[str]:
    return [] if faces else ["no face found in the whole title: nothing to track or cluster"]


def track_problems(face_frame: np.ndarray, members: Rows, tracks: Rows, shots: Rows) -> list[str]:
    """A face belongs to one track (-1: none), a track has at most one face per frame, and no track crosses a
    cut: its faces and its first and last frame lie inside the shot it names. `tracks.faces` counts its faces."""
    if not np.array_equal(members["face"], np.arange(len(face_frame))):
        return [f"track members are not one row per face of the {len(face_frame)} detected"]
    problems = []
    in_track = members["track"] >= 0
    order = np.lexsort((face_frame[in_track], members["track"][in_track]))
    track, frame = members["track"][in_track][order], face_frame[in_track][order]
    doubled = np.unique(track[1:][(track[1:] == track[:-1]) & (frame[1:] == frame[:-1])])
    if len(doubled):
        problems.append(f"tracks with two faces on one frame: {_some(doubled)}")
    ids, first, counts = np.unique(track, return_index=True, return_counts=True)
    unknown = np.setdiff1d(ids, tracks["track"])
    if len(unknown):
        problems.append(f"faces in tracks the tracks table lacks: tracks {_some(unknown)}")
    faces_of = dict(zip(ids.tolist(), counts.tolist()))
    span_of = dict(zip(ids.tolist(), zip(frame[first].tolist(), frame[first + counts - 1].tolist())))
    shot_at = {s: (a, b) for s, a, b in zip(*(shots[k].tolist() for k in ("shot", "start_frame", "end_frame")))}
    crossing, miscounted = [], []
    for t, s, a, b, n in zip(*(tracks[k].tolist() for k in ("track", "shot", "first_frame", "last_frame", "faces"))):
        start, end = shot_at.get(s, (1, 0))  # a shot that does not exist holds no frame
        lo, hi = span_of.get(t, (a, b))
        if min(a, lo) < start or max(b, hi) > end:
            crossing.append(t)
        if faces_of.get(t, 0) != n:
            miscounted.append(t)
    if crossing:
        problems.append(f"tracks crossing a shot cut: {_some(crossing)}")
    if miscounted:
        problems.append(f"tracks whose face count differs from their members: {_some(miscounted)}")
    return problems


def embedding_problems(
    kept: np.ndarray, track_embeddings: Rows, embedded_track: np.ndarray, raw: np.ndarray
) -> list[str]:
    """Every kept track, and only those, has embedded faces, the per-track counts add up to the embeddings
    stored, the embedder is named, and every embedding is finite and non-zero."""
    problems = []
    tracks = track_embeddings["track"]
    if not np.array_equal(np.sort(tracks), np.sort(kept)):
        problems.append(f"track_embeddings rows {len(tracks)} are not the {len(kept)} kept tracks")
    empty = tracks[track_embeddings["faces_embedded"] < 1]
    if len(empty):
        problems.append(f"kept tracks without an embedded face: {_some(empty)}")
    if int(track_embeddings["faces_embedded"].sum()) != len(embedded_track) or not np.isin(embedded_track, kept).all():
        problems.append("the stored embeddings are not the faces track_embeddings counts")
    if not all(track_embeddings["embedder"]):
        problems.append("rows without the embedder that produced them")
    norms = np.linalg.norm(raw, axis=1) if len(raw) else np.zeros(0)
    if not (np.isfinite(norms) & (norms > 0)).all():
        problems.append("embeddings that are not finite or are zero")
    return problems


def adapted_model_problems(row: Rows, metadata: Mapping[str, Any]) -> list[str]:
    """One `adapted_models` row for the title, naming the MLflow run, model and checkpoint the materialisation did."""
    if len(row["model_uri"]) != 1:
        return [f"{len(row['model_uri'])} adapted_models rows, not 1"]
    problems = [f"no {k}" for k in ("model_uri", "model_version", "checkpoint_sha256") if not row[k][0]]
    for key in ("mlflow_run_id", "model_version", "checkpoint_sha256"):
        if str(row[key][0]) != str(metadata.get(key)):
            problems.append(f"{key} {row[key][0]} differs from the materialisation's {metadata.get(key)}")
    return problems


def adapted_embedding_problems(base_faces: np.ndarray, faces: np.ndarray, raw: np.ndarray) -> list[str]:
    """The adapted model embedded the same faces as the generic one, each to a finite, non-zero vector."""
    problems = [] if np.array_equal(base_faces, faces) else ["not the faces face_embeddings chose"]
    norms = np.linalg.norm(raw, axis=1) if len(raw) else np.zeros(0)
    if not (np.isfinite(norms) & (norms > 0)).all():
        problems.append("embeddings that are not finite or are zero")
    return problems


def assignment_problems(kept: np.ndarray, assignments: Rows, identities: Rows) -> list[str]:
    """Every kept track has exactly one row, with a cluster unless a correction set it aside (no cluster), and
    no other track has any; `identities` has one row per cluster, counting its tracks."""
    problems = []
    clustered = ~np.isnan(assignments["cluster"].astype(np.float64))  # no cluster (NaN): a correction's doing
    track = assignments["track"]
    cluster = assignments["cluster"][clustered].astype(np.int64)
    ids, counts = np.unique(track, return_counts=True)
    if (counts > 1).any():
        problems.append(f"tracks with more than one cluster: {_some(ids[counts > 1])}")
    missing = np.setdiff1d(kept, track)
    if len(missing):
        problems.append(f"kept tracks without a cluster: {_some(missing)}")
    extra = np.setdiff1d(track, kept)
    if len(extra):
        problems.append(f"clustered tracks that are not kept: {_some(extra)}")
    clusters, sizes = np.unique(cluster, return_counts=True)  # of the clustered tracks
    order = np.argsort(identities["cluster"])
    if not (
        np.array_equal(identities["cluster"][order], clusters) and np.array_equal(identities["tracks"][order], sizes)
    ):
        problems.append("identities rows do not match the clusters of track_clusters")
    return problems


def cooccurrence_problems(
    face_frame: np.ndarray,
    track_of: np.ndarray,
    assignments: Rows,
    joined: list[set[int]] = (),
    boxes: np.ndarray | None = None,
) -> list[str]:
    """Tracks on screen together as two people (`cooccurring_pairs`: in one frame, and with `boxes` not two boxes
    on one head) never share a cluster, unless a person's correction joined them (`joined`: sets of track ids it
    made one person: a mirror, a poster)."""
    clusters = assignments["cluster"].astype(np.float64)
    cluster_of = {t: int(c) for t, c in zip(assignments["track"].tolist(), clusters.tolist()) if c == c}  # not NaN
    face_cluster = np.array([cluster_of.get(t, -1) for t in track_of.tolist()], np.int64)
    one = {t: min(group) for group in joined for t in group}  # the tracks a correction joined count as one
    track_of = np.array([one.get(t, t) for t in track_of.tolist()], np.int64)
    seen = face_cluster >= 0
    cluster_of = dict(zip(track_of[seen].tolist(), face_cluster[seen].tolist()))
    pairs = cooccurring_pairs(face_frame[seen], track_of[seen], None if boxes is None else boxes[seen])
    wrong = sorted((a, b) for a, b in pairs if cluster_of[a] == cluster_of[b])
    if not wrong:
        return []
    shown = ", ".join(f"{a}+{b}" for a, b in wrong[:LISTED]) + (", ..." if len(wrong) > LISTED else "")
    clusters_hit = _some(np.unique([cluster_of[a] for a, _ in wrong]))
    return [f"clusters holding two tracks on one frame: {clusters_hit} (tracks {shown})"]
