"""Corrections as constraints: anchors find their tracks again, later corrections win, undo takes one back,
and the clusterers and the season linking honour them."""

from __future__ import annotations

import numpy as np

from videoclusternet.clustering import AverageLinkClusterer
from videoclusternet.corrections import Correction, TrackFacesIndex, constraints_of, must_link_groups
from videoclusternet.linking import EpisodeIdentities, link_season

TITLE = "s.s01e01"


def _index() -> TrackFacesIndex:
    """Tracks 0..3 of one title, one face each on frames 10..13, boxes 100 px apart."""
    boxes = np.array([[100.0 * k, 0, 100.0 * k + 50, 50] for k in range(4)])
    return TrackFacesIndex(np.array([TITLE] * 4, object), np.arange(4), np.arange(10, 14), boxes)


def _anchor(track: int, shift: float = 0.0) -> list:
    return [TITLE, 10 + track, 100.0 * track + shift, 0.0, 100.0 * track + 50 + shift, 50.0]


def test_anchors_follow_their_faces_and_a_lost_one_says_why():
    found = _index().find([_anchor(2, shift=4.0), [TITLE, 99, 0, 0, 50, 50]])
    assert found == [(TITLE, 2), None]
    lost = Correction(1, "s.s01", "not_a_face", {"track": [TITLE, 99, 0, 0, 50, 50]}, "me")
    assert constraints_of([lost], _index()).applies == {1: "its track's face is no longer in a kept track"}


def test_verbs_become_links_a_later_move_wins_and_undo_takes_back():
    merge = Correction(1, "s.s01", "merge", {"anchors": [[_anchor(0)], [_anchor(1), _anchor(2)]]}, "me")
    move = Correction(2, "s.s01", "move", {"track": _anchor(2), "anchors": [[_anchor(0), _anchor(1)]]}, "me")
    out = constraints_of([merge, move], _index())
    assert out.must_link == [{(TITLE, 0), (TITLE, 1)}]  # the later move took track 2 out of the merge
    assert out.cannot_link == {((TITLE, 2), (TITLE, 0)), ((TITLE, 2), (TITLE, 1))}
    undone = constraints_of([merge, move, Correction(3, "s.s01", "undo", {"correction": 2}, "me")], _index())
    assert undone.must_link == [{(TITLE, 0), (TITLE, 1), (TITLE, 2)}] and not undone.cannot_link


def test_groups_leave_a_moved_track_out_and_join_the_merged_ones():
    rows = [(TITLE, k) for k in range(4)]
    merge = Correction(1, "s.s01", "merge", {"anchors": [[_anchor(0)], [_anchor(3)]]}, "me")
    move = Correction(2, "s.s01", "move", {"track": _anchor(2), "anchors": [[_anchor(1)]]}, "me")
    groups = must_link_groups(rows, np.array([0, 1, 1, 2]), constraints_of([merge, move], _index()))
    assert groups[0] == groups[3] and groups[1] != groups[2] and len(set(groups.tolist())) == 3


def test_the_season_linking_honours_a_merge_and_a_not_a_face():
    rng = np.random.default_rng(3)
    people = rng.normal(size=(2, 32))
    cast = [0, 1, 0, 1]  # two people, two tracks each; the episode split nobody
    embeddings = people[np.repeat(cast, 4)] + 0.2 * rng.normal(size=(16, 32))
    episode = EpisodeIdentities(TITLE, np.arange(4), np.array(cast), np.repeat(np.arange(4), 4), embeddings, set())
    merge = Correction(1, "s.s01", "merge", {"anchors": [[_anchor(0)], [_anchor(1)]]}, "me")
    gone = Correction(2, "s.s01", "not_a_face", {"track": _anchor(3)}, "me")
    linking = link_season([episode], AverageLinkClusterer(), constraints_of([merge, gone], _index()))
    assert linking.track.tolist() == [0, 1, 2] and len(set(linking.person.tolist())) == 1
