"""Season linking on small arrays: episodes' identities joined, people seen together kept apart, and person ids
that last (matched on shared faces) with every change recorded."""

from __future__ import annotations

import numpy as np

from videoclusternet.boxes import match_faces
from videoclusternet.clustering import AverageLinkClusterer, HdbscanClusterer, TrackFaces
from videoclusternet.linking import EpisodeIdentities, IdChange, assign_person_ids, link_season

RNG = np.random.default_rng(7)
PEOPLE = RNG.normal(size=(5, 64))


def _episode(title: str, cast: list[int], clusters: list[int], cannot_link=frozenset()) -> EpisodeIdentities:
    """One track per entry of `cast` (a person 0..4), four noisy faces each; `clusters`: the episode's clustering."""
    face_track = np.repeat(np.arange(len(cast)), 4)
    embeddings = PEOPLE[np.repeat(cast, 4)] + 0.3 * RNG.normal(size=(4 * len(cast), 64))
    return EpisodeIdentities(title, np.arange(len(cast)), np.array(clusters), face_track, embeddings, set(cannot_link))


def test_identities_of_several_episodes_become_one_person_each():
    episodes = [
        _episode("s.s01e01", [0, 1, 0, 2], [0, 1, 0, 2]),
        _episode("s.s01e02", [1, 0, 3], [0, 1, 2]),  # person 3 only here: a guest
        _episode("s.s01e03", [2, 0], [0, 1]),
    ]
    linking = link_season(episodes, AverageLinkClusterer())
    truth = np.array([0, 1, 0, 2, 1, 0, 3, 2, 0])
    persons = {}
    for true, person in zip(truth, linking.person):
        persons.setdefault(int(true), set()).add(int(person))
    assert all(len(p) == 1 for p in persons.values()) and len({p.pop() for p in persons.values()}) == 4
    assert list(linking.title) == ["s.s01e01"] * 4 + ["s.s01e02"] * 3 + ["s.s01e03"] * 2


def test_the_season_reclusters_tracks_and_people_seen_together_stay_apart():
    # The episode put two people in one cluster, and split one person in two: the season's linking, of the
    # tracks themselves, makes three persons of them; each track keeps its episode cluster beside its person.
    linking = link_season([_episode("s.s01e01", [0, 1, 2, 2], [0, 0, 1, 2])], AverageLinkClusterer())
    assert linking.person[0] != linking.person[1] and linking.person[2] == linking.person[3]
    assert len(set(linking.person.tolist())) == 3 and linking.cluster.tolist() == [0, 0, 1, 2]
    # Two identities of one person, seen in one frame (say, a mirror): never one person.
    apart = link_season([_episode("s.s01e01", [0, 0], [0, 1], {(0, 1)})], AverageLinkClusterer(threshold=-1))
    assert apart.person[0] != apart.person[1]


def test_clusterers_without_groups_of_their_own_keep_the_groups_whole():
    faces = TrackFaces.from_embeddings(PEOPLE[[0, 0, 1, 1]], np.arange(4), 4)
    labels = HdbscanClusterer().fit(faces, set(), groups=np.array([0, 0, 1, 1]))
    assert labels[0] == labels[1] and labels[2] == labels[3]


def test_faces_match_by_frame_and_overlap_one_to_one():
    old_keys, new_keys = np.array([5, 5, 9]), np.array([5, 5, 9, 7])
    old = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10]], float)
    new = np.array([[21, 0, 31, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10]], float)
    assert match_faces(old_keys, old, new_keys, new).tolist() == [1, 0, -1, -1]


def test_ids_follow_the_faces_and_every_change_is_recorded():
    old = ["s.s01/p0001", "s.s01/p0002", "s.s01/p0003"]
    # New persons (most screen time first): p0002's faces; a merge of p0001 and p0003; somebody new.
    shared = np.array([[0, 40, 0], [30, 0, 10], [0, 0, 0]])
    ids, changes = assign_person_ids("s.s01", shared, old, next_number=4)
    assert ids == ["s.s01/p0002", "s.s01/p0001", "s.s01/p0004"]
    assert changes == [
        IdChange(None, "s.s01/p0004", "new person"),
        IdChange("s.s01/p0003", "s.s01/p0001", "merged into"),
    ]
    # The same linking again: the same ids, nothing changed.
    again, nothing = assign_person_ids("s.s01", np.diag([40, 30, 10]), ids, next_number=5)
    assert again == ids and nothing == []


def test_a_split_and_a_person_gone_are_recorded():
    old = ["s.s01/p0001", "s.s01/p0002"]
    ids, changes = assign_person_ids("s.s01", np.array([[50, 0], [20, 0]]), old, next_number=3)
    assert ids == ["s.s01/p0001", "s.s01/p0003"]
    assert changes[0] == IdChange("s.s01/p0001", "s.s01/p0003", "split from")
    assert changes[1].old == "s.s01/p0002" and changes[1].new is None and changes[1].reason.startswith("gone")
