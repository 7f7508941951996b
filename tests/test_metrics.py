"""Evaluation figures on small cases worked out by hand, and agreement with the referee script when present."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from videoclusternet.boxes import iou_matrix
from videoclusternet.metrics import (
    FaceScores,
    PredictionRows,
    TruthRows,
    assign,
    cluster_scores,
    evaluate,
    match_boxes,
    read_predictions_csv,
    read_truth_csv,
)

LN2, LN3, LN7 = math.log(2), math.log(3), math.log(7)
BOX = (0.0, 0.0, 10.0, 10.0)
REFEREE = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "score.py"


def _scores(truth: list[str], clusters: list[object]) -> dict[str, float | int | None]:
    return vars(cluster_scores(truth, clusters))


def _check(got: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def _one_face_per_frame(identities: list[str], clusters: list[object], tracks: list[object] | None = None):
    """Truth and predictions with identical boxes, one face per frame, so every face matches."""
    n = len(identities)
    truth = TruthRows(np.arange(n), np.tile(BOX, (n, 1)), np.array(identities, dtype=object))
    pred = PredictionRows(np.arange(n), np.tile(BOX, (n, 1)), np.array(clusters, dtype=object), tracks)
    return truth, pred


# Truth used by the partition tests: identity sizes (4, 2, 1), N = 7.
Y7 = ["a", "a", "a", "a", "b", "b", "c"]


def test_perfect_clustering_is_one_everywhere_whatever_the_cluster_names():
    # Every cluster pure and complete: WCP = (4+2+1)/7 = 1, I = H(Y) = H(C) -> NMI 1, BCubed and pairwise all 1.
    ones = dict.fromkeys(["wcp", "nmi", "bcubed_precision", "bcubed_recall", "bcubed_f"], 1.0)
    ones.update(pairwise_precision=1.0, pairwise_recall=1.0, pairwise_f=1.0, cluster_ratio=1.0, n_clusters_pred=3)
    _check(_scores(Y7, ["z", "z", "z", "z", 0, 0, "q"]), ones)
    truth, pred = _one_face_per_frame(Y7, [5, 5, 5, 5, 1, 1, 9], ["t"] * 4 + ["u"] * 2 + ["v"])
    figures = evaluate(truth, pred).as_dict()
    _check(figures, {"face_" + k: v for k, v in ones.items()})
    _check(figures, dict(detection_recall=1.0, track_wcp=1.0, track_nmi=1.0, track_purity=1.0, track_cluster_ratio=1.0))


def test_everything_in_one_cluster():
    # WCP = 4/7. H(C) = 0 so I = 0 and NMI = 0 (only one partition is a single block).
    # BCubed P = sum n_y^2 / N^2 = (16+4+1)/49 = 3/7; R = 1; F = 2(3/7)/(3/7+1) = 6/10 = 0.6.
    # Pairs: predicted C(7,2) = 21, together C(4,2)+C(2,2) = 7 -> P = 1/3; true pairs 7 -> R = 1; F = (2/3)/(4/3) = 0.5.
    # Clusters 1 vs 3 identities: ratio 1/3.
    expected = dict(wcp=4 / 7, nmi=0.0, bcubed_precision=3 / 7, bcubed_recall=1.0, bcubed_f=0.6)
    expected.update(pairwise_precision=1 / 3, pairwise_recall=1.0, pairwise_f=0.5, n_clusters_pred=1)
    expected.update(cluster_ratio=1 / 3)
    _check(_scores(Y7, [0] * 7), expected)


def all_singletons_expected() -> dict[str, float]:
    # WCP = 7/7 = 1. BCubed P = 1; R = (4*(1/4) + 2*(1/2) + 1)/7 = 3/7; F = 2(3/7)/(10/7) = 0.6.
    # Pairs: no predicted pair -> P vacuous = 1.0; R = 0/7 = 0; F = 0. Clusters 7 vs 3: ratio 7/3.
    # H(C) = ln 7; H(Y) = ln 7 - (4/7 ln 4 + 2/7 ln 2) = ln 7 - (10/7) ln 2 = 0.955700; C determines Y so I = H(Y);
    # NMI = 2 H(Y) / (H(Y) + ln 7) = 1.911400 / 2.901610 = 0.658738.
    h_y = LN7 - 10 / 7 * LN2
    assert 2 * h_y / (h_y + LN7) == pytest.approx(0.658738, abs=1e-6)
    expected = dict(wcp=1.0, nmi=2 * h_y / (h_y + LN7), bcubed_precision=1.0, bcubed_recall=3 / 7, bcubed_f=0.6)
    expected.update(pairwise_precision=1.0, pairwise_recall=0.0, pairwise_f=0.0, n_clusters_pred=7)
    return dict(expected, cluster_ratio=7 / 3)


def test_all_singletons():
    _check(_scores(Y7, list(range(7))), all_singletons_expected())


def _unclustered_counts(faces: FaceScores) -> tuple[int, int, float | None]:
    return faces.n_unclustered, faces.n_clusters_pred_excl_unclustered, faces.cluster_ratio_excl_unclustered


def test_unclustered_predictions_count_as_singletons():
    # Every spelling of "unclustered" becomes its own cluster, so this is the all-singletons case above.
    truth, pred = _one_face_per_frame(Y7, [None, -1, "", "nan", float("nan"), "unknown", "-1.0"])
    faces = evaluate(truth, pred).faces
    _check(vars(faces), all_singletons_expected())
    assert _unclustered_counts(faces) == (7, 0, 0.0)
    # Faces a a a b with clusters 1, -, -, 2: four singletons -> WCP 1, BCubed R = (3*(1/3) + 1)/4 = 0.5,
    # pairwise P vacuous 1.0 and R = 0/3 = 0; 4 clusters (2 without the unclustered) for 2 identities.
    truth, pred = _one_face_per_frame(["a", "a", "a", "b"], ["1", None, None, "2"])
    faces = evaluate(truth, pred).faces
    _check(vars(faces), dict(wcp=1.0, bcubed_recall=0.5, pairwise_precision=1.0, pairwise_recall=0.0, cluster_ratio=2))
    assert _unclustered_counts(faces) == (2, 2, 1.0)


def test_known_bcubed_and_pairwise_example():
    # Faces a->1, a->1, a->2, b->2, b->2, b->3: n(1,a)=2; n(2,a)=1, n(2,b)=2; n(3,b)=1. Cluster sizes (2,3,1), N = 6.
    # WCP = (2 + 2 + 1)/6 = 5/6.
    # BCubed P per item: c1 2/2, 2/2; c2 a 1/3, b 2/3, 2/3; c3 1 -> sum 14/3 -> P = 7/9.
    # BCubed R per item: a in c1 2/3, 2/3; a in c2 1/3; b in c2 2/3, 2/3; b in c3 1/3 -> sum 10/3 -> R = 5/9.
    # F = 2 (7/9)(5/9) / (12/9) = 35/54.
    # Pairs: predicted 1 + 3 = 4, together (a,a in c1) + (b,b in c2) = 2 -> P = 1/2; true 3 + 3 = 6 -> R = 1/3;
    # F = 2 (1/2)(1/3) / (5/6) = 2/5.
    # H(Y) = ln 2; H(C) = 1/2 ln 3 + 2/3 ln 2; H(Y,C) over cells (2,1,2,1)/6 = ln 3 + 1/3 ln 2;
    # I = 4/3 ln 2 - 1/2 ln 3 = 0.374890; NMI = 2I / (H(Y)+H(C)) = 0.749780 / 1.704551 = 0.439870.
    mutual = 4 / 3 * LN2 - LN3 / 2
    nmi = 2 * mutual / (LN2 + LN3 / 2 + 2 / 3 * LN2)
    assert nmi == pytest.approx(0.439870, abs=1e-6)
    expected = dict(wcp=5 / 6, nmi=nmi, bcubed_precision=7 / 9, bcubed_recall=5 / 9, bcubed_f=35 / 54)
    expected.update(pairwise_precision=0.5, pairwise_recall=1 / 3, pairwise_f=0.4, n_clusters_pred=3, cluster_ratio=1.5)
    _check(_scores(["a", "a", "a", "b", "b", "b"], [1, 1, 2, 2, 2, 3]), expected)


def test_identity_spread_says_where_each_persons_faces_went():
    # Faces a a a a a b b, an unknown face, b c; clusters 1 1 2 - 1 2 2 2 and no prediction for the last b and c.
    # a: 5 faces, all found, over clusters {1, 2} and 1 unclustered; cluster 1 holds 3 of them (share 0.6) and
    # nothing else (purity 1). b: 3 faces, 2 found, both in cluster 2, which also holds one a (purity 2/3; the
    # unknown face in it is not evaluated). c: no face found.
    identities = ["a", "a", "a", "a", "a", "b", "b", "unknown", "b", "c"]
    truth = TruthRows(np.arange(10), np.tile(BOX, (10, 1)), np.array(identities, dtype=object))
    pred = PredictionRows(np.arange(8), np.tile(BOX, (8, 1)), np.array([1, 1, 2, None, 1, 2, 2, 2], dtype=object))
    a, b, c = evaluate(truth, pred).identities
    assert (a.identity, a.faces, a.found, a.clusters, a.unclustered, a.largest_cluster) == ("a", 5, 5, 2, 1, "1")
    assert (a.largest_share, a.largest_purity) == pytest.approx((3 / 5, 1.0))
    assert (b.identity, b.faces, b.found, b.clusters, b.unclustered, b.largest_cluster) == ("b", 3, 2, 1, 0, "2")
    assert (b.largest_share, b.largest_purity) == pytest.approx((1.0, 2 / 3))
    assert (c.identity, c.faces, c.found, c.clusters, c.largest_cluster, c.largest_share) == ("c", 1, 0, 0, None, None)


def test_nmi_conventions():
    assert cluster_scores(["a", "a"], [1, 1]).nmi == 1.0  # both single blocks: identical partitions
    assert cluster_scores(["a", "a"], [1, 2]).nmi == 0.0  # only the truth is a single block
    assert cluster_scores(["a", "b"], [1, 1]).nmi == 0.0  # only the prediction is a single block
    assert cluster_scores(["a", "b"], [2, 1]).nmi == pytest.approx(1.0)  # a relabelled perfect split
    empty = cluster_scores([], [])
    assert (empty.n_items, empty.wcp, empty.nmi, empty.cluster_ratio) == (0, None, None, None)


def test_iou_and_hungarian_assignment():
    # (0,0,10,10) vs (4,0,14,10): inter 6*10 = 60, union 100+100-60 = 140 -> 3/7; vs (5,0,15,10): 50/150 = 1/3.
    iou = iou_matrix(np.array([BOX]), np.array([[4, 0, 14, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[3 / 7, 1 / 3, 0.0]])
    # Greedy would take (0,0) at 0.6 and leave row 1 without a partner; the assignment takes 0.5 + 0.55 = 1.05.
    assert sorted(assign(np.array([[0.6, 0.5], [0.55, 0.0]]), 0.4)) == [(0, 1), (1, 0)]
    assert assign(np.array([[0.39]]), 0.4) == []


def _matching_case() -> tuple[TruthRows, PredictionRows]:
    """Frame 0: A at IoU 3/7 (matched). Frame 1: A at IoU 1/3 (missed at 0.4). Frame 2: B, plus an `unknown` and a
    `not_a_face` row that each absorb a prediction. Frame 3: truths T0 (0..10), T1 (7..17) and predictions P0 (3..13),
    P1 (-4..6): IoU(T0,P0) = 7/13, IoU(T1,P0) = 6/14, IoU(T0,P1) = 6/14, IoU(T1,P1) = 0; only the assignment
    matches both. Frame 9: a prediction with no truth at all."""
    truth = TruthRows(
        [0, 1, 2, 2, 2, 3, 3],
        [BOX, BOX, BOX, (20, 0, 30, 10), (40, 0, 50, 10), BOX, (7, 0, 17, 10)],
        np.array(["A", "A", "B", "Unknown", "NOT_A_FACE", "C", "D"], dtype=object),
    )
    pred = PredictionRows(
        [0, 1, 2, 2, 2, 3, 3, 9],
        [(4, 0, 14, 10), (5, 0, 15, 10), BOX, (20, 0, 30, 10), (40, 0, 50, 10), (3, 0, 13, 10), (-4, 0, 6, 10), BOX],
        ["1", "1", "2", "7", "8", "3", "4", "5"],
    )
    return truth, pred


def test_matching_threshold_absorbing_rows_and_detection():
    truth, pred = _matching_case()
    np.testing.assert_array_equal(match_boxes(truth, pred, 0.4), [0, -1, 2, 3, 4, 6, 5])
    ev = evaluate(truth, pred)
    d = ev.detection
    # 5 identity faces (A, A, B, C, D), 4 matched -> recall 4/5; the unknown and not_a_face rows absorb one each.
    assert (d.identity_faces, d.matched_identity_faces, d.matched_unknown, d.matched_not_a_face) == (5, 4, 1, 1)
    assert d.recall == pytest.approx(0.8)
    # Predictions on truth frames 0..3: 7, of which only the frame-1 one is unmatched -> 6/7.
    assert (d.pred_on_gt_frames, d.unmatched_pred_on_gt_frames) == (7, 1)
    assert d.precision_on_gt_frames == pytest.approx(6 / 7)
    # Matched identity IoUs: 3/7, 1, 6/14, 6/14 -> mean (3/7 + 1 + 6/7)/4 = 16/28 = 4/7.
    assert d.mean_iou_matched == pytest.approx(4 / 7)
    # Evaluated faces A, B, C, D in clusters 1, 2, 4, 3: perfect; no tracks given.
    assert ev.faces.n_items == 4 and ev.faces.wcp == 1.0 and ev.tracks is None
    # At IoU 0.3 the frame-1 pair (1/3) counts: recall 5/5 and both A faces sit in cluster 1.
    ev3 = evaluate(truth, pred, iou_threshold=0.3)
    assert ev3.detection.recall == 1.0 and ev3.faces.n_items == 5 and ev3.faces.bcubed_f == 1.0


def test_track_level_majorities():
    # t1: faces a, a, b with clusters 10, 10, 2 -> identity a (2 of 3), cluster "10".
    # t2: face b with cluster 2, plus two unclustered rows off the truth frames -> unclustered majority: singleton.
    # t3: faces b, a (a tie -> "a", alphabetically first) with clusters "3", "10" (a tie -> "10", first in string
    #     order, although 3 < 10 as numbers). t4: one row on no truth frame -> not evaluated.
    # The face c has no track. Items (a, 10), (b, singleton), (a, 10): track WCP 1, NMI 1, 2 clusters for 2 identities.
    # (Had t3 gone to b or to cluster 3 the WCP or the cluster count would show it.)
    # Purity: t1 2/3 agree, t2 1/1, t3 1/2 -> 4/6. Mixed cluster ids: t1 {10,2}, t2 {2,-}, t3 {3,10} -> 3.
    identities = ["a", "a", "b", "b", "b", "a", "c"]
    clusters = ["10", "10", "2", "2", "3", "10", "5"]
    tracks = ["t1", "t1", "t1", "t2", "t3", "t3", -1]
    truth, pred = _one_face_per_frame(identities, clusters, tracks)
    extra = PredictionRows([20, 21, 22], np.tile(BOX, (3, 1)), [None, "", "5"], ["t2", "t2", "t4"])
    pred = PredictionRows(
        np.concatenate([pred.frame_idx, extra.frame_idx]),
        np.concatenate([pred.boxes, extra.boxes]),
        np.concatenate([pred.cluster_id, extra.cluster_id]),
        np.concatenate([pred.track_id, extra.track_id]),
    )
    t = evaluate(truth, pred).tracks
    assert t is not None
    assert (t.n_tracks_evaluated, t.n_tracks_total, t.n_clusters_pred, t.n_identities_true) == (3, 4, 2, 2)
    assert (t.wcp, t.nmi, t.cluster_ratio) == (1.0, 1.0, 1.0)
    assert t.purity == pytest.approx(4 / 6)
    assert (t.mixed_cluster_ids, t.matched_faces_without_track) == (3, 1)


def test_as_dict_keys_are_stable():
    truth, pred = _one_face_per_frame(["a"], ["1"])
    without = evaluate(truth, pred).as_dict()
    with_tracks = evaluate(*_one_face_per_frame(["a"], ["1"], ["t"])).as_dict()
    assert list(without) == list(with_tracks)
    assert without["track_wcp"] is None and with_tracks["track_wcp"] == 1.0
    for key in ("face_bcubed_f", "face_wcp", "face_nmi", "detection_recall", "face_cluster_ratio", "track_purity"):
        assert key in without


TRUTH_CSV = """frame_idx,x1,y1,x2,y2,identity,extra
0,0,0,10,10,ann,x
0,20,0,30,10,bob,x
1,0,0,10,10,ann,x
1,20,0,30,10,unknown,x
1,40,0,50,10,not_a_face,x
2,0,0,10,10,ann,x
2,20,0,30,10,bob,x
3,0,0,10,10,cat,x
3,20,0,30,10,,x
4,0,0,10,10,ann,x
4,20,0,30,10,bob,x
"""
PRED_CSV = """frame_idx,timestamp,x1,y1,x2,y2,track_id,cluster_id
0,0.0,4,0,14,10,1,0
0,0.0,20,0,30,10,2,1.0
1,0.04,0,0,10,10,1,0
1,0.04,20,0,30,10,2,1
1,0.04,40,0,50,10,9,
2,0.08,0,0,10,10,1,1
2,0.08,20,0,30,10,2,1
3,0.12,0,0,10,10,3,
3,0.12,20,0,30,10,,4
4,0.16,5,0,15,10,1,0
4,0.16,20,0,30,10,,1
5,0.2,0,0,10,10,5,2
"""


def test_csv_readers(tmp_path: Path):
    (tmp_path / "t.csv").write_text(TRUTH_CSV)
    (tmp_path / "p.csv").write_text(PRED_CSV)
    truth, pred = read_truth_csv(tmp_path / "t.csv"), read_predictions_csv(tmp_path / "p.csv")
    assert len(truth) == 11 and list(truth.kind[3:5]) == ["unknown", "not_a_face"] and truth.kind[8] == "unknown"
    assert list(pred.cluster_id[:5]) == ["0", "1", "0", "1", None]
    assert list(pred.track_id[8:11]) == [None, "1", None] and pred.has_tracks


def test_csv_errors_name_the_file_and_column(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("frame_idx,x1,y1,x2,y2,track_id\n0,0,0,1,1,3\n")
    with pytest.raises(ValueError, match=r"bad\.csv: missing column\(s\) \['cluster_id'\]"):
        read_predictions_csv(bad)
    with pytest.raises(ValueError, match=r"bad\.csv: missing column\(s\) \['identity'\]"):
        read_truth_csv(bad)
    bad.write_text("frame_idx,x1,y1,x2,y2,identity\n0,0,zero,1,1,ann\n")
    with pytest.raises(ValueError, match=r"bad\.csv: line 2: column 'y1' is not a number"):
        read_truth_csv(bad)
    bad.write_text("frame_idx,x1,y1,x2,y2,identity\n0,0,0,1,1,ann\n1,0,0,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv: line 3: 4 fields, the header has 6"):
        read_truth_csv(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match=r"bad\.csv: empty file"):
        read_truth_csv(bad)


def test_csv_ids_are_read_as_written(tmp_path: Path):
    # Every column is text: an identity "007" stays "007" and a cluster id "3.0" is normalised to "3", not parsed.
    (tmp_path / "t.csv").write_text(" frame_idx ,x1,y1,x2,y2, identity\n0,0,0,10,10, 007 \n")
    (tmp_path / "p.csv").write_text("frame_idx,x1,y1,x2,y2,cluster_id\n0,0,0,10,10,3.0\n")
    assert list(read_truth_csv(tmp_path / "t.csv").identity) == ["007"]
    assert list(read_predictions_csv(tmp_path / "p.csv").cluster_id) == ["3"]


def _referee_flat(report: dict) -> dict:
    """The referee's JSON under our flat keys."""
    flat = {"iou_threshold": report["iou_threshold"]}
    flat.update({"detection_" + k: v for k, v in report["detection"].items()})
    flat.update({"face_" + ("n_items" if k == "n_faces" else k): v for k, v in report["clustering"].items()})
    renamed = {
        "track_purity": "purity",
        "tracks_with_mixed_cluster_ids": "mixed_cluster_ids",
        "matched_identity_faces_without_track": "matched_faces_without_track",
    }
    flat.update({"track_" + renamed.get(k, k): v for k, v in (report["tracks"] or {}).items()})
    return flat


@pytest.mark.skipif(not REFEREE.exists(), reason="the referee script ../shared/eval/score.py is not in this checkout")
@pytest.mark.parametrize("iou", [0.4, 0.3])
def test_same_figures_as_the_referee_script(tmp_path: Path, iou: float):
    (tmp_path / "t.csv").write_text(TRUTH_CSV)
    (tmp_path / "p.csv").write_text(PRED_CSV)
    cmd = [sys.executable, str(REFEREE), str(tmp_path / "t.csv"), str(tmp_path / "p.csv"), "--iou", str(iou)]
    reference = _referee_flat(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    ours = evaluate(read_truth_csv(tmp_path / "t.csv"), read_predictions_csv(tmp_path / "p.csv"), iou).as_dict()
    assert set(reference) == set(ours)
    for key, value in reference.items():
        assert ours[key] == (None if value is None else pytest.approx(value, abs=1e-12)), key
