"""A title's stored results read back as the method's types, and the summaries made from them.

The assets call these to read what an upstream stage wrote; the CLI's operations call them too
(export, re-clustering), so there is one reader per stored thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vcn_resources.warehouse import Warehouse
from videoclusternet.clustering import cooccurring_pairs, track_spans
from videoclusternet.context import track_contexts
from videoclusternet.linking import EpisodeIdentities
from videoclusternet.pipeline import TitleFaces
from videoclusternet.quality import KEPT
from videoclusternet.types import FaceDetections, Shot

# The faces artifact: each face's aligned crop (JPEG), tracking descriptor and context (the colours below it).
FACES_ARTIFACT = pa.schema(
    [
        ("face", pa.int64()),
        ("crop_jpeg", pa.binary()),
        ("appearance", pa.list_(pa.float32())),
        ("context", pa.list_(pa.float32())),
    ]
)


class StoredCrops(Sequence[bytes]):
    """The JPEG crops of a title's faces artifact, read from its Parquet file one row group (8k faces) at a
    time, when a face of that group is asked for: memory stays one row group whatever the title's length
    (a 22-min episode has 145k crops, 0.5 GB, which took 1.1 GB to read whole). Ask in face order, as
    `choose_faces` gives them: going back to an earlier group reads it again."""

    def __init__(self, path: Path) -> None:
        self._file = pq.ParquetFile(path)
        meta = self._file.metadata
        self._starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        self._group, self._jpegs = -1, pa.array([], pa.binary())

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, face: int) -> bytes:  # type: ignore[override]  # one face at a time, no slices
        if not 0 <= face < len(self):
            raise IndexError(f"face {face} is not in {len(self)} stored faces")
        group = int(np.searchsorted(self._starts, face, side="right")) - 1
        if group != self._group:
            self._jpegs = self._file.read_row_group(group, columns=["crop_jpeg"]).column(0).combine_chunks()
            self._group = group
        return self._jpegs[int(face - self._starts[group])].as_py()


def stored_crops(warehouse: Warehouse, title: str) -> StoredCrops:
    """The title's face crops, read from disk as they are asked for."""
    return StoredCrops(warehouse.artifact_path(title, "faces"))


def load_title_faces(warehouse: Warehouse, title: str) -> TitleFaces:
    """The title's detected faces as `face_detections` stored them, crops read from disk as asked for."""
    rows = warehouse.rows("face_detections", title)
    appearance = warehouse.read_artifact(title, "faces", columns=["appearance"]).column("appearance").combine_chunks()
    n = len(rows["face"])
    return TitleFaces(
        FaceDetections(
            frame_idx=rows["frame"].astype(np.int64),
            boxes=np.stack([rows["x1"], rows["y1"], rows["x2"], rows["y2"]], axis=1).astype(np.float32),
            landmarks=np.stack(rows["landmarks"]).reshape(n, 5, 2).astype(np.float32)
            if n
            else np.zeros((0, 5, 2), np.float32),
            scores=rows["score"].astype(np.float32),
        ),
        stored_crops(warehouse, title),
        rows["size_px"].astype(np.float32),
        rows["sharpness"].astype(np.float32),
        appearance.flatten().to_numpy().reshape(n, -1).astype(np.float32) if n else np.zeros((0, 128), np.float32),
    )


def load_shots(warehouse: Warehouse, title: str) -> list[Shot]:
    rows = warehouse.rows("shots", title)
    return [
        Shot(int(s), int(a), int(b), float(sa), float(sb))
        for s, a, b, sa, sb in zip(rows["shot"], rows["start_frame"], rows["end_frame"], rows["start_s"], rows["end_s"])
    ]


def stored_embeddings(warehouse: Warehouse, title: str, adapt: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, their tracks, raw embeddings [F, D]) of the title's embedded faces: by the generic model, or
    by the title's adapted model."""
    table = warehouse.read_artifact(title, "adapted_embeddings" if adapt else "embeddings")
    raw = table.column("raw").to_numpy(zero_copy_only=False)
    return (
        table.column("face").to_numpy(),
        table.column("track").to_numpy(),
        np.stack(raw) if len(raw) else np.zeros((0, 1), np.float32),
    )


def generic_embedder(warehouse: Warehouse, title: str) -> str:
    """`<embedder>:<hash>` of the generic model that embedded the title's faces ("" for no faces)."""
    embedder = warehouse.rows("track_embeddings", title)["embedder"]
    return str(embedder[0]) if len(embedder) else ""


def adapted_embeddings_current(warehouse: Warehouse, title: str) -> bool:
    """The title has adapted embeddings, of the very faces its generic embeddings hold now (a re-run of the
    face stages without adaptation leaves the adapted ones describing the faces of before)."""
    if not warehouse.has_artifact(title, "adapted_embeddings"):
        return False
    faces = warehouse.read_artifact(title, "embeddings", columns=["face"]).column("face")
    return warehouse.read_artifact(title, "adapted_embeddings", columns=["face"]).column("face").equals(faces)


def clustered_with_adapted_model(warehouse: Warehouse, title: str) -> bool:
    """Whether the title's current clusters were made from its adapted model's embeddings."""
    used = warehouse.read_title("track_clusters", title)
    return bool(used) and used.column("model_version")[0].as_py() != generic_embedder(warehouse, title)


def clustered_by(warehouse: Warehouse, title: str) -> str | None:
    """The `describe()` of the clusterer that made the title's current clusters; None before its first."""
    used = warehouse.read_title("track_clusters", title)
    described = [d for d in (used.column("clusterer").to_pylist() if used else []) if "(correction" not in d]
    return described[0] if described else None


def summarise_identities(
    warehouse: Warehouse,
    title: str,
    tracks: np.ndarray,
    labels: np.ndarray,
    track_of: np.ndarray,
    detections: dict[str, np.ndarray],
    embedded_faces: np.ndarray,
) -> dict[str, list]:
    """Per cluster: counts, screen time (distinct frames x frame step) and the sharpest embedded face as its
    picture, written to `titles/<title>/identities/cluster_<n>.jpg`."""
    step_s = warehouse.require_title(title).frame_step_s
    crops = stored_crops(warehouse, title)
    folder = warehouse.title_dir(title) / "identities"
    folder.mkdir(exist_ok=True)
    out: dict[str, list] = {
        k: [] for k in ("cluster", "tracks", "faces", "screen_seconds", "first_seen_s", "last_seen_s", "crop_path")
    }
    face_cluster = np.full(len(track_of), -1, np.int64)
    for t, c in zip(tracks, labels):
        face_cluster[track_of == t] = c
    quality = detections["score"] * np.log1p(detections["sharpness"])
    pictures: dict[int, Path] = {}
    for c in np.unique(labels):
        members = np.flatnonzero(face_cluster == c)
        candidates = np.intersect1d(members, embedded_faces)
        best = int(candidates[np.argmax(quality[candidates])]) if len(candidates) else int(members[0])
        crop_path = folder / f"cluster_{int(c)}.jpg"
        pictures[best] = crop_path
        out["cluster"].append(int(c))
        out["tracks"].append(int((labels == c).sum()))
        out["faces"].append(len(members))
        out["screen_seconds"].append(round(len(np.unique(detections["frame"][members])) * step_s, 3))
        out["first_seen_s"].append(float(detections["timestamp"][members].min()))
        out["last_seen_s"].append(float(detections["timestamp"][members].max()))
        out["crop_path"].append(warehouse.home_relative(crop_path))
    for face in sorted(pictures):  # in face order: the crops are read a row group at a time
        pictures[face].write_bytes(crops[face])
    return out


def load_episode_identities(warehouse: Warehouse, title: str) -> EpisodeIdentities:
    """A clustered title's kept tracks, their clusters, the generic model's embeddings of their faces (one
    model for the whole season: a title's adapted model is its own) and the pairs of tracks seen together."""
    clusters = warehouse.rows("track_clusters", title)
    clustered = ~np.isnan(clusters["cluster"].astype(np.float64))  # a track a correction set aside has none
    clusters = {k: v[clustered] for k, v in clusters.items()}
    clusters["cluster"] = clusters["cluster"].astype(np.int64)
    _, face_track, raw = stored_embeddings(warehouse, title, adapt=False)
    embedded = np.isin(face_track, clusters["track"])
    detections = warehouse.rows("face_detections", title)
    track_of = warehouse.rows("face_track_members", title)["track"]
    return EpisodeIdentities(
        title,
        clusters["track"],
        clusters["cluster"],
        face_track[embedded],
        raw[embedded],
        _seen_together(detections, track_of, clusters["track"]),
        stored_track_contexts(warehouse, title, clusters["track"]),
        track_spans(detections["timestamp"], track_of, clusters["track"]),
    )


def stored_track_contexts(warehouse: Warehouse, title: str, tracks: np.ndarray) -> np.ndarray:
    """Per track of `tracks` (sorted ids): the mean context descriptor of its faces (`videoclusternet.context`);
    zeros where none was stored (a title without faces, or detected before descriptors were)."""
    faces = pq.ParquetFile(warehouse.artifact_path(title, "faces"))
    if "context" not in faces.schema_arrow.names or not faces.metadata.num_rows:
        return np.zeros((len(tracks), 1), np.float32)
    column = faces.read(columns=["context"]).column("context").combine_chunks()
    context = column.flatten().to_numpy().reshape(len(column), -1).astype(np.float32)
    members = warehouse.rows("face_track_members", title)
    return track_contexts(context[members["face"]], members["track"], tracks)


def detection_boxes(detections: dict[str, np.ndarray]) -> np.ndarray:
    """The boxes of `face_detections` rows, [N, 4] (x1, y1, x2, y2)."""
    return np.stack([np.asarray(detections[k], np.float64) for k in ("x1", "y1", "x2", "y2")], axis=1).reshape(-1, 4)


def seen_together(warehouse: Warehouse, title: str, tracks: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of `tracks` (ids, a < b) on screen together as two people: in one frame, and not two boxes on one
    head (`cooccurring_pairs`)."""
    detections = warehouse.rows("face_detections", title)
    return _seen_together(detections, warehouse.rows("face_track_members", title)["track"], tracks)


def _seen_together(detections: dict[str, np.ndarray], track_of: np.ndarray, tracks: np.ndarray) -> set[tuple[int, int]]:
    """`seen_together` from a title's `face_detections` rows and each one's track."""
    mine = np.isin(track_of, tracks)
    return cooccurring_pairs(detections["frame"][mine], track_of[mine], detection_boxes(detections)[mine])


def kept_faces(warehouse: Warehouse, title: str) -> dict[str, np.ndarray]:
    """The faces of a title's kept tracks: face id, track, frame, timestamp and box (x1, y1, x2, y2)."""
    detections = warehouse.rows("face_detections", title)
    track_of = warehouse.rows("face_track_members", title)["track"]
    tracks = warehouse.rows("tracks", title)
    keep = np.isin(track_of, tracks["track"][tracks["status"] == KEPT])
    boxes = detection_boxes(detections)
    return {
        "face": detections["face"][keep],
        "track": track_of[keep],
        "frame": detections["frame"][keep],
        "timestamp": detections["timestamp"][keep],
        "box": boxes[keep],
    }
