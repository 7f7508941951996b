"""Evaluation of a face clustering against per-frame face truth.

Predicted boxes are matched to truth boxes frame by frame (Hungarian assignment on IoU; pairs under the
threshold are impossible). Truth rows labelled ``unknown`` (or empty) and ``not_a_face`` take part in the
matching, so a prediction on them is absorbed rather than left over, but they count for nothing else.

Face level, over the matched identity-labelled truth faces ("evaluated faces"): weighted cluster purity,
NMI, BCubed and pairwise precision/recall/F, and predicted clusters per true identity. A prediction without
a cluster is its own singleton cluster. Detection recall is matched identity faces over identity faces;
read the clustering figures together with it, as they ignore missed faces.

Track level (predictions with track ids): each predicted track that matched an identity face is one item,
labelled by the majority identity of its matched faces (ties: alphabetically first) and clustered by the
majority cluster id of all its rows (ties: first in string order; an unclustered majority makes it a singleton).

Per identity: how many of its faces were found, over how many clusters, and its largest cluster's share and purity.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy.optimize import linear_sum_assignment

from videoclusternet.boxes import iou_matrix, paired_iou

IGNORED_LABELS = frozenset({"unknown", "not_a_face"})
UNCLUSTERED_TOKENS = frozenset({"", "-1", "nan", "none", "null", "unknown"})
NO_TRACK_TOKENS = frozenset({"", "-1", "nan", "none", "null"})
TRUTH_COLUMNS = ("frame_idx", "x1", "y1", "x2", "y2", "identity")
PREDICTION_COLUMNS = ("frame_idx", "x1", "y1", "x2", "y2", "cluster_id")
BOX_COLUMNS = ("x1", "y1", "x2", "y2")


# ------------------------------------------------------------------------------------------------ inputs
def normalise_id(value: Any) -> str:
    """An id as text: stripped, and integral numbers written as integers (``'3.0'`` and ``3`` give ``'3'``)."""
    if value is None:
        return ""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if math.isfinite(number) and number == int(number) else text


def _optional_ids(values: Iterable[Any] | None, n: int, empty_tokens: frozenset[str]) -> np.ndarray:
    """Normalised ids as an object array; ``None`` where the value is one of ``empty_tokens``."""
    out = np.full(n, None, dtype=object)
    if values is None:
        return out
    for i, value in enumerate(values):
        text = normalise_id(value)
        out[i] = None if text.lower() in empty_tokens else text
    return out


def _frames_and_boxes(frame_idx: Any, boxes: Any) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(frame_idx, dtype=np.float64).astype(np.int64).reshape(-1)
    box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(frames) != len(box_array):
        raise ValueError(f"{len(frames)} frame indices but {len(box_array)} boxes")
    return frames, box_array


@dataclass
class TruthRows:
    """Truth faces, one row each: frame index, box corners (x1, y1, x2, y2) and identity label.

    ``identity`` of ``unknown`` (or empty) or ``not_a_face``, in any case, marks a box that is matched but not scored.
    """

    frame_idx: np.ndarray  # int64 [N]
    boxes: np.ndarray  # float64 [N, 4]
    identity: np.ndarray  # object [N] of str

    def __post_init__(self) -> None:
        self.frame_idx, self.boxes = _frames_and_boxes(self.frame_idx, self.boxes)
        labels = ["" if v is None else str(v).strip() for v in np.asarray(self.identity, dtype=object).reshape(-1)]
        if len(labels) != len(self.frame_idx):
            raise ValueError(f"{len(self.frame_idx)} truth rows but {len(labels)} identities")
        self.identity = np.array(labels, dtype=object).reshape(-1)

    def __len__(self) -> int:
        return int(self.frame_idx.shape[0])

    @property
    def kind(self) -> np.ndarray:
        """Per row: ``'identity'``, ``'unknown'`` or ``'not_a_face'``."""
        return np.array([_truth_kind(label) for label in self.identity], dtype=object)


def _truth_kind(label: str) -> str:
    if label == "":
        return "unknown"
    return label.lower() if label.lower() in IGNORED_LABELS else "identity"


@dataclass
class PredictionRows:
    """Predicted faces, one row each: frame index, box corners, cluster id and track id.

    Ids may be ints, floats or strings; they are normalised to text. A cluster id of ``None``, ``-1``, NaN,
    empty, ``none``, ``null`` or ``unknown`` means unclustered; a track id of ``None``, ``-1``, NaN or empty
    means no track. ``track_id=None`` means the predictions carry no tracks at all.
    """

    frame_idx: np.ndarray  # int64 [N]
    boxes: np.ndarray  # float64 [N, 4]
    cluster_id: np.ndarray  # object [N] of str | None
    track_id: np.ndarray | None = None  # object [N] of str | None

    def __post_init__(self) -> None:
        self.frame_idx, self.boxes = _frames_and_boxes(self.frame_idx, self.boxes)
        n = len(self.frame_idx)
        self.cluster_id = _optional_ids(_as_list(self.cluster_id, n, "cluster ids"), n, UNCLUSTERED_TOKENS)
        if self.track_id is not None:
            self.track_id = _optional_ids(_as_list(self.track_id, n, "track ids"), n, NO_TRACK_TOKENS)

    def __len__(self) -> int:
        return int(self.frame_idx.shape[0])

    @property
    def has_tracks(self) -> bool:
        """Whether any row carries a track id (track figures are computed only then)."""
        return self.track_id is not None and any(t is not None for t in self.track_id)


def _as_list(values: Any, n: int, what: str) -> list[Any]:
    items = list(np.asarray(values, dtype=object).reshape(-1)) if values is not None else []
    if len(items) != n:
        raise ValueError(f"{n} prediction rows but {len(items)} {what}")
    return items


# ------------------------------------------------------------------------------------------------ CSV
def _read_csv(path: str | Path, required: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Header and columns by name (names and values stripped); a clear error naming the file for a missing header
    or column, and naming the file and line for a row with more or fewer fields than the header.

    Parsed by pyarrow with every column read as text, so ids such as ``007`` reach the caller as written. A name
    given twice keeps its last column, as with :class:`csv.DictReader`.
    """
    ragged: list[pacsv.InvalidRow] = []

    def skip_ragged(row: pacsv.InvalidRow) -> str:
        ragged.append(row)
        return "skip"

    parse = pacsv.ParseOptions(invalid_row_handler=skip_ragged)
    try:  # the header alone first, to read every column as text
        names = pacsv.open_csv(path, parse_options=parse).schema.names
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise ValueError(f"{path}: empty file, expected a header with columns {list(required)}") from None
        raise ValueError(f"{path}: {exc}") from None
    header = [name.strip() for name in names]
    missing = [name for name in required if name not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the header has {header}")
    ragged.clear()
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False),  # single-threaded, a ragged row knows its line number
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    if ragged:
        bad = ragged[0]
        raise ValueError(
            f"{path}: line {bad.number}: {bad.actual_columns} fields, the header has {bad.expected_columns}"
        )
    return header, {name: [v.strip() for v in table.column(i).to_pylist()] for i, name in enumerate(header)}


def _numbers(path: str | Path, columns: dict[str, list[str]], names: Sequence[str]) -> np.ndarray:
    """The named columns as floats [N, len(names)]; a clear error naming file, line and column for bad values."""
    out = np.zeros((len(columns[names[0]]), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        for i, value in enumerate(columns[name]):
            try:
                out[i, j] = float(value)
            except ValueError:
                raise ValueError(f"{path}: line {i + 2}: column {name!r} is not a number: {value!r}") from None
    return out


def _truth_problem(frame: float, box: np.ndarray) -> str | None:
    if not np.isfinite([frame, *box]).all():
        return "a value is not finite"
    if frame < 0 or frame != int(frame):
        return f"frame_idx {frame:g} is not a frame index (0, 1, 2, ...)"
    if box[2] <= box[0] or box[3] <= box[1]:
        return f"box {box.tolist()} is empty (x2 must exceed x1, y2 must exceed y1)"
    return None


def read_truth_csv(path: str | Path) -> TruthRows:
    """Read a ``frame_idx,x1,y1,x2,y2,identity`` truth CSV (further columns are ignored).

    A file without rows, or a row with a non-finite value, a frame index that is not one, or an empty box
    is an error naming the file and line: scoring against it would give figures that mean nothing.
    """
    _, columns = _read_csv(path, TRUTH_COLUMNS)
    if not columns["identity"]:
        raise ValueError(f"{path}: no truth rows under the header")
    values = _numbers(path, columns, ("frame_idx", *BOX_COLUMNS))
    for i, row in enumerate(values):
        if problem := _truth_problem(row[0], row[1:]):
            raise ValueError(f"{path}: line {i + 2}: {problem}")
    return TruthRows(values[:, 0], values[:, 1:], np.array(columns["identity"], dtype=object))


def read_predictions_csv(path: str | Path) -> PredictionRows:
    """Read a prediction export ``frame_idx,timestamp,x1,y1,x2,y2,track_id,cluster_id``.

    ``timestamp`` is ignored and ``track_id`` is optional; an empty ``cluster_id`` means unclustered.
    """
    _, columns = _read_csv(path, PREDICTION_COLUMNS)
    values = _numbers(path, columns, ("frame_idx", *BOX_COLUMNS))
    return PredictionRows(values[:, 0], values[:, 1:], columns["cluster_id"], columns.get("track_id"))


# ------------------------------------------------------------------------------------------------ matching
def assign(iou: np.ndarray, iou_threshold: float) -> list[tuple[int, int]]:
    """Hungarian assignment maximising summed IoU; pairs under the threshold weigh 0 and are dropped."""
    if iou.size == 0:
        return []
    weights = np.where(iou >= iou_threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= iou_threshold]


def match_boxes(truth: TruthRows, pred: PredictionRows, iou_threshold: float = 0.4) -> np.ndarray:
    """For each truth row the index of its matched prediction, or -1. Rows keep their input order per frame."""
    matched = np.full(len(truth), -1, dtype=np.int64)
    pred_by_frame: dict[int, list[int]] = defaultdict(list)
    for j, frame in enumerate(pred.frame_idx.tolist()):
        pred_by_frame[frame].append(j)
    truth_by_frame: dict[int, list[int]] = defaultdict(list)
    for i, frame in enumerate(truth.frame_idx.tolist()):
        truth_by_frame[frame].append(i)
    for frame, t_rows in truth_by_frame.items():
        p_rows = pred_by_frame.get(frame, [])
        if p_rows:
            for a, b in assign(iou_matrix(truth.boxes[t_rows], pred.boxes[p_rows]), iou_threshold):
                matched[t_rows[a]] = p_rows[b]
    return matched


# ------------------------------------------------------------------------------------------------ partitions
@dataclass(frozen=True)
class ClusterScores:
    """Agreement between true labels and predicted clusters over the same items."""

    n_items: int
    wcp: float | None
    nmi: float | None
    bcubed_precision: float | None
    bcubed_recall: float | None
    bcubed_f: float | None
    pairwise_precision: float | None
    pairwise_recall: float | None
    pairwise_f: float | None
    n_clusters_pred: int
    n_identities_true: int
    cluster_ratio: float | None


def _harmonic(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _codes(labels: Sequence[Hashable]) -> np.ndarray:
    """Integer codes 0, 1, ... in order of first appearance (labels may mix types, which sklearn cannot sort)."""
    index: dict[Hashable, int] = {}
    return np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.int64)


def cluster_scores(truth: Sequence[Hashable], clusters: Sequence[Hashable]) -> ClusterScores:
    """All partition figures of one labelling; give each unclustered item a label of its own before calling.

    NMI is 2 I(Y;C) / (H(Y) + H(C)) (arithmetic normalisation): 1.0 when both partitions are a single block,
    0.0 when only one is. Pairwise precision (recall) with no predicted (true) same-cluster pair is vacuous
    and reported as 1.0.
    """
    if len(truth) != len(clusters):
        raise ValueError(f"{len(truth)} true labels but {len(clusters)} cluster labels")
    n = len(truth)
    if n == 0:
        return ClusterScores(0, None, None, None, None, None, None, None, None, 0, 0, None)
    # Imported here: scikit-learn takes a second to import, and most commands that load this module never score.
    from sklearn.metrics.cluster import contingency_matrix, normalized_mutual_info_score, pair_confusion_matrix

    y, c = _codes(truth), _codes(clusters)
    table = contingency_matrix(y, c).T.astype(np.float64)
    per_cluster, per_identity = table.sum(1), table.sum(0)
    bp = float((table**2 / per_cluster[:, None]).sum() / n)
    br = float((table**2 / per_identity[None, :]).sum() / n)
    # Ordered pairs, so each count is twice the unordered one; the ratios are the same.
    (_, apart_joined), (split, together) = pair_confusion_matrix(y, c)
    pred_pairs, true_pairs = together + apart_joined, together + split
    pp = float(together / pred_pairs) if pred_pairs > 0 else 1.0
    pr = float(together / true_pairs) if true_pairs > 0 else 1.0
    return ClusterScores(
        n_items=n,
        wcp=float(table.max(1).sum() / n),
        nmi=float(normalized_mutual_info_score(y, c, average_method="arithmetic")),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f=_harmonic(bp, br),
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f=_harmonic(pp, pr),
        n_clusters_pred=table.shape[0],
        n_identities_true=table.shape[1],
        cluster_ratio=table.shape[0] / table.shape[1],
    )


# ------------------------------------------------------------------------------------------------ figures
@dataclass(frozen=True)
class DetectionScores:
    """How many identity-labelled truth faces found a prediction, and how predictions fared on truth frames.

    ``precision_on_gt_frames`` counts a prediction as false when it matches no truth row at all; it only means
    something when the truth boxes every face of its frames.
    """

    recall: float | None
    matched_identity_faces: int
    identity_faces: int
    matched_unknown: int
    matched_not_a_face: int
    pred_on_gt_frames: int
    unmatched_pred_on_gt_frames: int
    precision_on_gt_frames: float | None
    mean_iou_matched: float | None


@dataclass(frozen=True)
class FaceScores(ClusterScores):
    """Partition figures over the evaluated faces, plus how many of them were unclustered."""

    n_unclustered: int = 0
    n_clusters_pred_excl_unclustered: int = 0
    cluster_ratio_excl_unclustered: float | None = None


@dataclass(frozen=True)
class TrackScores:
    """Figures with one vote per predicted track that matched an identity face."""

    n_tracks_evaluated: int
    n_tracks_total: int
    wcp: float | None
    nmi: float | None
    n_clusters_pred: int
    n_identities_true: int
    cluster_ratio: float | None
    purity: float | None
    mixed_cluster_ids: int
    matched_faces_without_track: int


@dataclass(frozen=True)
class IdentitySpread:
    """Where one true identity's faces went: how many a prediction found, over how many clusters, and
    the cluster holding most of them (ties: first in string order; None when none was clustered)."""

    identity: str
    faces: int  # identity-labelled truth faces
    found: int  # of them, matched by a prediction (the evaluated faces)
    clusters: int  # distinct clusters among the found faces
    unclustered: int  # found faces without a cluster: each is a singleton in the face figures
    largest_cluster: str | None
    largest_share: float | None  # of the found faces, the part in the largest cluster
    largest_purity: float | None  # of the largest cluster's evaluated faces, the part that are this identity


@dataclass(frozen=True)
class Evaluation:
    """Everything :func:`evaluate` measures; ``tracks`` is None when the predictions carry no track ids.

    ``identities`` is the per-identity breakdown, most faces first; it is not among :meth:`as_dict`'s figures.
    """

    iou_threshold: float
    detection: DetectionScores
    faces: FaceScores
    tracks: TrackScores | None = None
    identities: tuple[IdentitySpread, ...] = ()
    matched: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)

    def as_dict(self) -> dict[str, float | int | None]:
        """Flat figures under stable keys ``detection_*``, ``face_*``, ``track_*`` (track ones None without tracks)."""
        out: dict[str, float | int | None] = {"iou_threshold": self.iou_threshold}
        out.update(_prefixed("detection_", asdict(self.detection)))
        out.update(_prefixed("face_", asdict(self.faces)))
        names = [f.name for f in fields(TrackScores)]
        out.update(_prefixed("track_", asdict(self.tracks) if self.tracks else dict.fromkeys(names)))
        return out


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {prefix + k: v for k, v in values.items()}


def _detection(truth: TruthRows, pred: PredictionRows, matched: np.ndarray) -> DetectionScores:
    kind = truth.kind
    identity = kind == "identity"
    found = identity & (matched >= 0)
    on_gt_frames = np.isin(pred.frame_idx, np.unique(truth.frame_idx))
    used = np.zeros(len(pred), dtype=bool)
    used[matched[matched >= 0]] = True
    n_on = int(on_gt_frames.sum())
    ious = paired_iou(truth.boxes[found], pred.boxes[matched[found]])
    return DetectionScores(
        recall=float(found.sum() / identity.sum()) if identity.any() else None,
        matched_identity_faces=int(found.sum()),
        identity_faces=int(identity.sum()),
        matched_unknown=int(((kind == "unknown") & (matched >= 0)).sum()),
        matched_not_a_face=int(((kind == "not_a_face") & (matched >= 0)).sum()),
        pred_on_gt_frames=n_on,
        unmatched_pred_on_gt_frames=int((on_gt_frames & ~used).sum()),
        precision_on_gt_frames=float((on_gt_frames & used).sum() / n_on) if n_on else None,
        mean_iou_matched=float(ious.mean()) if ious.size else None,
    )


def _face_scores(truth: TruthRows, pred: PredictionRows, faces: np.ndarray, matched: np.ndarray) -> FaceScores:
    """Partition figures over the evaluated faces; an unclustered prediction j becomes singleton ``('', j)``."""
    labels = [truth.identity[i] for i in faces]
    clusters: list[Hashable] = []
    for i in faces:
        j = int(matched[i])
        clusters.append(pred.cluster_id[j] if pred.cluster_id[j] is not None else ("", j))
    base = cluster_scores(labels, clusters)
    named = {c for c in clusters if isinstance(c, str)}
    return FaceScores(
        **asdict(base),
        n_unclustered=len(clusters) - sum(isinstance(c, str) for c in clusters),
        n_clusters_pred_excl_unclustered=len(named),
        cluster_ratio_excl_unclustered=len(named) / base.n_identities_true if base.n_identities_true else None,
    )


def _majority(values: Iterable[str]) -> str:
    """Most frequent value; ties go to the first in string order."""
    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, k in counts.items() if k == top)


def _track_scores(truth: TruthRows, pred: PredictionRows, faces: np.ndarray, matched: np.ndarray) -> TrackScores:
    """Track-level figures; an unclustered row votes ``''`` for its track's cluster and mixes like any id."""
    assert pred.track_id is not None
    row_clusters: dict[str, list[str]] = defaultdict(list)
    for track, cluster in zip(pred.track_id, pred.cluster_id):
        if track is not None:
            row_clusters[track].append(cluster if cluster is not None else "")
    face_labels: dict[str, list[str]] = defaultdict(list)
    for i in faces:
        track = pred.track_id[matched[i]]
        if track is not None:
            face_labels[track].append(truth.identity[i])
    tracks = sorted(face_labels)
    labels = [_majority(face_labels[t]) for t in tracks]
    clusters: list[Hashable] = [_majority(row_clusters[t]) or ("", t) for t in tracks]
    scores = cluster_scores(labels, clusters)
    agree = sum(sum(v == label for v in face_labels[t]) for t, label in zip(tracks, labels))
    total = sum(len(face_labels[t]) for t in tracks)
    return TrackScores(
        n_tracks_evaluated=len(tracks),
        n_tracks_total=len(row_clusters),
        wcp=scores.wcp,
        nmi=scores.nmi,
        n_clusters_pred=scores.n_clusters_pred,
        n_identities_true=scores.n_identities_true,
        cluster_ratio=scores.cluster_ratio,
        purity=agree / total if total else None,
        mixed_cluster_ids=sum(len(set(v)) > 1 for v in row_clusters.values()),
        matched_faces_without_track=int(sum(pred.track_id[matched[i]] is None for i in faces)),
    )


def _identity_spread(
    truth: TruthRows, pred: PredictionRows, faces: np.ndarray, matched: np.ndarray
) -> tuple[IdentitySpread, ...]:
    """One IdentitySpread per identity of the truth, most faces first (ties: by name)."""
    clusters = [pred.cluster_id[matched[i]] for i in faces]
    cluster_size = Counter(c for c in clusters if c is not None)
    found: dict[str, Counter] = defaultdict(Counter)
    for i, cluster in zip(faces, clusters):
        found[truth.identity[i]][cluster] += 1
    totals = Counter(truth.identity[truth.kind == "identity"])
    out = []
    for identity, total in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        counts = found[identity]
        unclustered = counts.pop(None, 0)
        largest = min(counts, key=lambda c: (-counts[c], c)) if counts else None
        n_found = sum(counts.values()) + unclustered
        out.append(
            IdentitySpread(
                identity=identity,
                faces=total,
                found=n_found,
                clusters=len(counts),
                unclustered=unclustered,
                largest_cluster=largest,
                largest_share=counts[largest] / n_found if largest is not None else None,
                largest_purity=counts[largest] / cluster_size[largest] if largest is not None else None,
            )
        )
    return tuple(out)


def evaluate(truth: TruthRows, pred: PredictionRows, iou_threshold: float = 0.4) -> Evaluation:
    """Match predictions to truth and measure detection, face-level and (with track ids) track-level figures."""
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"IoU threshold {iou_threshold}: must be above 0 and at most 1")
    matched = match_boxes(truth, pred, iou_threshold)
    faces = np.flatnonzero((truth.kind == "identity") & (matched >= 0))
    return Evaluation(
        iou_threshold=iou_threshold,
        detection=_detection(truth, pred, matched),
        faces=_face_scores(truth, pred, faces, matched),
        tracks=_track_scores(truth, pred, faces, matched) if pred.has_tracks else None,
        identities=_identity_spread(truth, pred, faces, matched),
        matched=matched,
    )
