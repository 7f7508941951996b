"""The method's own pieces on small hand-made inputs: tracking, quality decisions, clustering."""

import numpy as np

from videoclusternet.embedding import choose_faces
from videoclusternet.quality import KEPT, NOT_A_FACE, TOO_SHORT, QualityPolicy, derive_thresholds, track_status
from videoclusternet.tracking import link_tracks, stride_gaps


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_tracks_follow_moving_faces_and_end_at_cuts():
    frames, shots, boxes = [], [], []
    for f in range(10):
        shot = 0 if f < 5 else 1
        frames += [f, f]
        shots += [shot, shot]
        boxes += [[10 + 3 * f, 10, 60 + 3 * f, 60], [300 - 2 * f, 40, 350 - 2 * f, 90]]
    look = _unit(np.tile([[1, 0], [0, 1]], (10, 1)))
    tracks = link_tracks(np.array(frames), np.array(shots), np.array(boxes, np.float32), look, fps=25)
    assert len(set(tracks[:10:2])) == 1 and len(set(tracks[1:10:2])) == 1
    assert tracks[0] != tracks[1]
    assert set(tracks[:10]).isdisjoint(tracks[10:])  # a cut ends every track
    assert len(np.unique(tracks)) == 4


def test_a_gap_longer_than_allowed_starts_a_new_track():
    frames = np.array([0, 1, 2, 60, 61])
    boxes = np.tile(np.array([[10, 10, 60, 60]], np.float32), (5, 1))
    tracks = link_tracks(frames, np.zeros(5, int), boxes, _unit(np.ones((5, 2))), fps=25)
    assert len(set(tracks[:3])) == 1 and tracks[3] != tracks[0]


def test_track_status_reasons():
    th = derive_thresholds(np.log(np.array([100.0, 120, 90, 110]) + 1), QualityPolicy())
    assert track_status(2, 80, 4.6, 10, 0.9, th)[0] == TOO_SHORT
    status, reason = track_status(20, 80, 4.6, 4.2, 0.9, th)
    assert status == NOT_A_FACE and "4.20" in reason
    assert track_status(20, 80, 4.6, 6.0, 0.4, th)[0] == NOT_A_FACE  # weak norm and unsure detector
    assert track_status(20, 80, 4.6, 6.0, 0.9, th)[0] == KEPT  # a small real face: weak norm, sure detector
    assert track_status(20, 10, 4.6, 10, 0.9, th)[0] != KEPT


def test_choose_faces_spreads_over_the_track():
    track_of = np.array([0] * 10 + [1] * 2 + [-1])
    frames = np.arange(13)
    quality = np.ones(13)
    chosen = choose_faces(track_of, frames, quality, per_track=3)
    assert list(chosen[chosen < 10]) == [0, 4, 7] and {10, 11} <= set(chosen) and 12 not in chosen


def test_embedding_budget_follows_video_length():
    from videoclusternet.embedding import faces_per_track

    assert faces_per_track(222, 130.5, 21.0, most=12, least=6, step=3) == 12  # a long title keeps the full sample
    assert faces_per_track(23, 9.2, 21.0, most=12, least=6, step=3) == 6  # a crowded short clip gets fewer
    assert faces_per_track(500, 5.0, 21.0, most=12, least=6, step=3) == 6
    assert faces_per_track(0, 5.0, 21.0, most=12, least=6) == 12
    assert faces_per_track(500, 5.0, None, most=12, least=6, step=3) == 12  # no budget: the full sample, always


def test_members_by_label_groups_in_one_sort():
    from videoclusternet.pipeline import members_by_label

    labels = np.array([5, 2, 5, -1, 2, 5])
    found, members = members_by_label(labels)
    assert found.tolist() == [-1, 2, 5]
    assert [m.tolist() for m in members] == [[3], [1, 4], [0, 2, 5]]
    empty, none = members_by_label(np.zeros(0, np.int64))
    assert len(empty) == 0 and none == []


def test_stride_gaps_are_the_frames_a_track_stepped_over_and_no_longer_gap():
    frame = np.array([0, 0, 2, 2, 4, 9])
    track = np.array([1, 2, 1, 2, 1, 1])
    missing, before, after = stride_gaps(frame, track, stride=2)
    assert sorted(zip(missing.tolist(), track[before].tolist(), frame[before].tolist(), frame[after].tolist())) == [
        (1, 1, 0, 2),
        (1, 2, 0, 2),
        (3, 1, 2, 4),
    ]  # 4 to 9 is a missed face, not a stride: nothing invented
