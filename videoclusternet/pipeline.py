"""The method's stages as plain functions: video in, arrays out. No storage, no orchestration."""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from videoclusternet.align import align_faces
from videoclusternet.clustering import (
    Clusterer,
    CutReport,
    FaceLoss,
    TrackFaces,
    cluster_and_report,
    cooccurring_pairs,
    track_spans,
)
from videoclusternet.context import context_descriptors
from videoclusternet.corrections import Constraints, correction_cannot_links, must_link_groups
from videoclusternet.embedding import choose_faces
from videoclusternet.models import Detector, Embedder
from videoclusternet.quality import (
    KEPT,
    QualityPolicy,
    QualityThresholds,
    derive_thresholds,
    sharpness,
    track_status,
)
from videoclusternet.shots import ShotDetector, shot_of_frames
from videoclusternet.tracking import TrackerConfig, appearance_descriptors, link_tracks
from videoclusternet.types import FaceDetections, Shot, VideoInfo
from videoclusternet.video import iter_frames, probe_video, read_ahead

PROBE_FACES_PER_TRACK = 3  # faces embedded per track to judge it; later samples are multiples of it


class Progress(Protocol):
    """A stage's progress hook: `n` more units done, and the total once the stage knows it."""

    def __call__(self, n: int, total: int | None = None) -> None: ...


def _noop(n: int, total: int | None = None) -> None:
    return None


@dataclass
class FrameManifest:
    """A video's probe, its shots, and the frames that detection looks at, with their time and shot."""

    info: VideoInfo  # as the container reports it
    shots: list[Shot]
    frame_idx: np.ndarray  # the frames the later stages decode (every `stride`-th)
    timestamps: np.ndarray
    shot_idx: np.ndarray
    decoded_frames: int  # what decoding gave: the shots and the manifest follow this, not the header


def scan_frames(path: str, stride: int = 1, progress: Progress = _noop) -> FrameManifest:
    """Probe the video and cut it into shots. Shots are found on every frame decoded (a header that over-counts
    adds no phantom frames); the manifest lists the frames that detection will look at."""
    info = probe_video(path)
    detector = ShotDetector()
    decoded = 0
    for frame, _, image in read_ahead(iter_frames(path)):  # the next frames decode while this one is compared
        detector.update(frame, image)
        decoded = frame + 1
        progress(1, total=info.frame_count)  # the header's count: a progress bar's length, nothing more
    shots = detector.finish(decoded, info.fps)
    return FrameManifest(info, shots, *_manifest(shots, stride, info.fps), decoded)


def _manifest(shots: list[Shot], stride: int, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every `stride`-th frame, and the middle frame of each shot that stride steps over entirely (a stride
    longer than a shot still sees every shot): frames, their times and their shots."""
    if not shots:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    frames = np.arange(0, shots[-1].end_frame + 1, stride, dtype=np.int64)
    seen = set(shot_of_frames(shots, frames).tolist())
    missed = [(s.start_frame + s.end_frame) // 2 for s in shots if s.shot_id not in seen]
    frames = np.union1d(frames, np.asarray(missed, np.int64))
    return frames, frames / fps, shot_of_frames(shots, frames)


@dataclass
class TitleFaces:
    """Every face detected in a title: detections, aligned crops, sharpness and tracking descriptor."""

    detections: FaceDetections
    # ArcFace-aligned 112x112 crops as JPEG, by face; a sequence that may read them from disk as they are asked for
    crops_jpeg: Sequence[bytes]
    size_px: np.ndarray
    sharpness: np.ndarray
    appearance: np.ndarray  # cheap descriptor for tracking


@dataclass
class FrameFaces:
    """The faces found on one frame: detections, their aligned crops as JPEG, sharpness and tracking descriptor."""

    found: FaceDetections
    jpegs: list[bytes]
    sharpness: np.ndarray
    appearance: np.ndarray
    context: np.ndarray  # the colours below each face (`videoclusternet.context`)

    def __len__(self) -> int:
        return len(self.found)


def _frame_faces(detector: Detector, frame: int, image: np.ndarray) -> FrameFaces:
    found = detector.detect(image)
    found.frame_idx = np.full(len(found), frame, np.int64)
    crops = align_faces(image, found.landmarks) if len(found) else np.zeros((0, 112, 112, 3), np.uint8)
    return FrameFaces(
        found,
        [encode_jpeg(c) for c in crops],
        sharpness(crops),
        appearance_descriptors(crops),
        context_descriptors(image, found.boxes),
    )


def detect_faces(
    path: str, detectors: Detector | Sequence[Detector], frames: Sequence[int], progress: Progress = _noop
) -> Iterator[FrameFaces]:
    """Detect, align and describe every face on the frames `frames` (a manifest's); yields those with faces, in
    frame order, as they are done, so that a caller can store a long title's crops as it goes instead of
    holding them all (a 22-min episode's are 0.5 GB of JPEG).

    Several detectors (independent instances: OpenCV's YuNet keeps state) work on frames in parallel
    threads; on 2 CPU cores two YuNet workers cut the time per frame by about 30% over one detector
    with two OpenCV threads.
    """
    pool = [detectors] if isinstance(detectors, Detector) else list(detectors)
    idle: queue.SimpleQueue[Detector] = queue.SimpleQueue()
    for detector in pool:
        idle.put(detector)

    def work(frame: int, image: np.ndarray) -> FrameFaces:
        detector = idle.get()
        try:
            return _frame_faces(detector, frame, image)
        finally:
            idle.put(detector)

    pending: deque[Future[FrameFaces]] = deque()
    with ThreadPoolExecutor(len(pool)) as executor:
        for frame, _, image in iter_frames(path, frames=frames):
            pending.append(executor.submit(work, frame, image))
            while len(pending) > 2 * len(pool) or (pending and pending[0].done()):
                if len(faces := pending.popleft().result()):
                    yield faces
                progress(1)
        while pending:
            if len(faces := pending.popleft().result()):
                yield faces
            progress(1)


DECODE_CHUNK = 256  # faces decoded at a time by `decoded_in_chunks`: the step at which embedding reports progress


def decode_crops(jpegs: Sequence[bytes], indices: np.ndarray) -> np.ndarray:
    """The aligned crops of the given faces, uint8 [len(indices), 112, 112, 3]."""
    if len(indices) == 0:
        return np.zeros((0, 112, 112, 3), np.uint8)
    return np.stack([decode_jpeg(jpegs[i]) for i in indices])


def decoded_in_chunks(jpegs: Sequence[bytes], faces: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(offset, faces, their crops), DECODE_CHUNK faces at a time: all of a long title's decoded crops at
    once would take gigabytes (a 22-min episode probes 14k faces: 0.5 GB of pixels, 1 GB while stacking)."""
    for start in range(0, len(faces), DECODE_CHUNK):
        part = faces[start : start + DECODE_CHUNK]
        yield start, part, decode_crops(jpegs, part)


def face_quality_score(scores: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """One number to rank a track's faces for embedding: confident, sharp faces first."""
    return scores * np.log1p(sharp)


@dataclass
class TrackSummary:
    track: np.ndarray
    shot: np.ndarray
    first_frame: np.ndarray
    last_frame: np.ndarray
    faces: np.ndarray
    median_score: np.ndarray
    best_size: np.ndarray
    best_sharpness: np.ndarray
    median_norm: np.ndarray
    status: list[str]
    reason: list[str]


@dataclass
class Tracking:
    track_of: np.ndarray  # per face
    probe_faces: np.ndarray  # faces embedded to judge tracks
    probe_embeddings: np.ndarray  # raw, per probe face
    face_norms: np.ndarray  # raw embedding norm per face; NaN where the face was not probed
    summary: TrackSummary
    thresholds: QualityThresholds


def track_faces(
    faces: TitleFaces,
    face_shot: np.ndarray,
    fps: float,
    embedder: Embedder,
    policy: QualityPolicy = QualityPolicy(),
    probe_per_track: int = PROBE_FACES_PER_TRACK,
    tracker: TrackerConfig = TrackerConfig(),
    progress: Progress = _noop,
) -> Tracking:
    """Link faces into tracks inside shots, then judge each track's quality.

    Size, sharpness and length are judged first; only tracks that pass them are embedded (a few
    faces each) to judge by the raw embedding norm whether they are faces at all.
    """
    det = faces.detections
    track_of = link_tracks(det.frame_idx, face_shot, det.boxes, faces.appearance, fps, tracker)
    tracks, members = members_by_label(track_of)
    summary = _summarise(tracks, members, face_shot, faces)
    judged = summary.faces >= policy.min_track_faces
    thresholds = derive_thresholds(np.log(summary.best_sharpness[judged] + 1.0), policy)
    _judge(summary, thresholds)
    candidates = tracks[np.array(summary.status, dtype=object) == KEPT] if len(tracks) else tracks
    quality = face_quality_score(det.scores, faces.sharpness)
    probe = choose_faces(np.where(np.isin(track_of, candidates), track_of, -1), det.frame_idx, quality, probe_per_track)
    raw = np.zeros((len(probe), embedder.dim), np.float32)
    for start, _, crops in decoded_in_chunks(faces.crops_jpeg, probe):
        raw[start : start + len(crops)] = embedder.embed(crops)
        progress(len(crops), total=len(probe))
    norms = np.full(len(det), np.nan, np.float32)
    norms[probe] = np.linalg.norm(raw, axis=1)
    probed_tracks, probed_faces = members_by_label(track_of[probe])
    for t, members in zip(probed_tracks, probed_faces):
        summary.median_norm[np.searchsorted(tracks, t)] = np.median(norms[probe[members]])
    _judge(summary, thresholds)
    return Tracking(track_of, probe, raw, norms, summary, thresholds)


def _judge(summary: TrackSummary, thresholds: QualityThresholds) -> None:
    """Set each track's status and reason; a track not yet probed (NaN norm) passes the norm tests."""
    for i in range(len(summary.track)):
        summary.status[i], summary.reason[i] = track_status(
            int(summary.faces[i]),
            float(summary.best_size[i]),
            float(np.log(summary.best_sharpness[i] + 1.0)),
            float(summary.median_norm[i]),
            float(summary.median_score[i]),
            thresholds,
        )


def members_by_label(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct labels, sorted, and the indices of each one's members: one sort, not a scan per label
    (an episode has thousands of tracks and a hundred thousand faces)."""
    if len(labels) == 0:
        return labels[:0], []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return labels[order[np.r_[0, bounds]]], np.split(order, bounds)


def _summarise(tracks: np.ndarray, members: list[np.ndarray], face_shot: np.ndarray, faces: TitleFaces) -> TrackSummary:
    """Per track (its faces' indices in `members`): shot, span, face count, and its best and median faces."""
    n = len(tracks)
    summary = TrackSummary(
        track=tracks,
        shot=np.zeros(n, np.int64),
        first_frame=np.zeros(n, np.int64),
        last_frame=np.zeros(n, np.int64),
        faces=np.zeros(n, np.int64),
        median_score=np.zeros(n, np.float32),
        best_size=np.zeros(n, np.float32),
        best_sharpness=np.zeros(n, np.float32),
        median_norm=np.full(n, np.nan, np.float32),
        status=[""] * n,
        reason=[""] * n,
    )
    frames = faces.detections.frame_idx
    for i, m in enumerate(members):
        summary.shot[i] = face_shot[m][0]
        summary.first_frame[i], summary.last_frame[i] = frames[m].min(), frames[m].max()
        summary.faces[i] = len(m)
        summary.median_score[i] = np.median(faces.detections.scores[m])
        summary.best_size[i] = faces.size_px[m].max()
        summary.best_sharpness[i] = faces.sharpness[m].max()
    return summary


@dataclass
class Clustering:
    tracks: np.ndarray
    labels: np.ndarray
    cannot_link_pairs: int
    loss: str  # the face-to-face loss the clusterer saw: cosine or self_distillation
    seconds: float
    cut: CutReport | None = None  # where and why the merging stopped, for the clusterers that say it


def cluster_tracks(
    kept_tracks: np.ndarray,
    face_track: np.ndarray,
    embeddings: np.ndarray,
    frame_idx: np.ndarray,
    track_of: np.ndarray,
    clusterer: Clusterer,
    loss: FaceLoss | None = None,
    constraints: Constraints | None = None,
    title: str = "",
    context: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    seconds: np.ndarray | None = None,
) -> Clustering:
    """Cluster kept tracks from their faces' embeddings; co-occurring tracks stay apart, and people's
    corrections of the title (`constraints`, on tracks `(title, track)`: must-links, cannot-links) hold.
    Tracks a correction set aside must not be among `kept_tracks`.

    `loss` is the face-to-face loss the parameter-free clusterer merges by (default: cosine on `embeddings`);
    `context` (optional) each kept track's clothes descriptor, for the clusterers that weigh clothes; `boxes`
    (optional, per face of `track_of`) tell two people seen together from two boxes on one head.
    """
    started = time.perf_counter()
    index = {int(t): i for i, t in enumerate(kept_tracks)}
    embedded = np.isin(face_track, kept_tracks)
    rows = np.array([index[int(t)] for t in face_track[embedded]], np.int64)
    spans = None if seconds is None else track_spans(seconds, track_of, kept_tracks)
    kept_mask = np.isin(track_of, kept_tracks)
    pairs = cooccurring_pairs(frame_idx[kept_mask], track_of[kept_mask], None if boxes is None else boxes[kept_mask])
    cannot_link = {(index[a], index[b]) for a, b in pairs}
    faces = TrackFaces.from_embeddings(
        embeddings[embedded], rows, len(kept_tracks), loss, context, spans=spans, seen_together=cannot_link
    )
    groups = None
    if constraints is not None and (constraints.must_link or constraints.cannot_link):
        keys = [(title, int(t)) for t in kept_tracks]
        groups = must_link_groups(keys, np.arange(len(keys)), constraints)
        cannot_link |= correction_cannot_links(keys, constraints)
    labels, cut = (
        (np.zeros(0, np.int64), None)
        if not len(kept_tracks)
        else cluster_and_report(clusterer, faces, cannot_link, groups)
    )
    return Clustering(kept_tracks, labels, len(cannot_link), faces.loss.name, time.perf_counter() - started, cut)


def encode_jpeg(crop: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode a face crop")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
