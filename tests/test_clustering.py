"""Every clusterer on hand-made tracks: identities recovered, cannot-link honoured, same interface."""

import dataclasses

import numpy as np
import pytest

from videoclusternet.clustering import (
    CLUSTERERS,
    AdaptiveMergeClusterer,
    AverageLinkClusterer,
    CalibratedLinkClusterer,
    CooccurrenceCutClusterer,
    FaceLoss,
    TrackFaces,
    clusterer_settings,
    cooccurring_pairs,
    make_clusterer,
    track_spans,
)
from videoclusternet.clustering.agglomerative import average_link_merges
from videoclusternet.clustering.clothes import CLOTHES_HOLD_S
from videoclusternet.clustering.constraints import split_conflicts


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def people_tracks(identities=(0, 0, 0, 1, 1, 2, 2, 2), faces=8, spread=0.35, dim=32, seed=0) -> TrackFaces:
    """Tracks whose faces scatter around one centre per identity (unit vectors, as face embeddings are)."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(max(identities) + 1, dim)))
    vectors, rows = [], []
    for row, person in enumerate(identities):
        vectors.append(_unit(centres[person] + spread * rng.normal(size=(faces, dim)) / np.sqrt(dim) * 3))
        rows += [row] * faces
    return TrackFaces.from_embeddings(np.concatenate(vectors), np.array(rows), len(identities))


def same_partition(labels, truth) -> bool:
    pairs = {(a, b) for a in range(len(truth)) for b in range(len(truth))}
    return all((labels[a] == labels[b]) == (truth[a] == truth[b]) for a, b in pairs)


@pytest.mark.parametrize("name", [n for n in CLUSTERERS if n != AdaptiveMergeClusterer.name])
def test_each_baseline_recovers_the_people(name):
    truth = (0, 0, 0, 1, 1, 2, 2, 2)
    labels = make_clusterer(name).fit(people_tracks(truth), set())
    assert same_partition(labels, truth), labels
    assert list(labels[:1]) == [0] and set(labels) == set(range(labels.max() + 1))  # numbered by first member


@pytest.mark.parametrize("name", CLUSTERERS)
def test_each_clusterer_keeps_cooccurring_tracks_apart(name):
    labels = make_clusterer(name).fit(people_tracks(), {(0, 1), (3, 4)})
    assert labels[0] != labels[1] and labels[3] != labels[4]


def test_adaptive_merge_joins_a_person_and_never_two_people():
    # Track 1 re-shows track 0's faces (its mean loss to track 0 is below track 0's own), so they merge;
    # other people are far beyond every cluster's own spread, so they never join, at either scale.
    for spread in (0.15, 0.45):
        faces = people_tracks((0, 1, 1, 2), spread=spread)
        copied = faces.embeddings.copy()
        copied[faces.track_row == 1] = faces.embeddings[faces.track_row == 0]
        labels = AdaptiveMergeClusterer().fit(TrackFaces.from_embeddings(copied, faces.track_row, 4), set())
        assert labels[0] == labels[1] and len({labels[0], labels[2], labels[3]}) == 3
        labels = AdaptiveMergeClusterer(neighbours=1).fit(people_tracks((0, 0, 0, 1, 1, 1), spread=spread), set())
        assert len(set(labels[:3]) & set(labels[3:])) == 0  # one candidate per round: still never mixes people


def test_adaptive_merge_with_the_self_distillation_loss():
    # Teacher/student outputs over 6 prototypes: faces of one person put their mass on one prototype.
    truth = (0, 0, 1, 1, 2)
    rng = np.random.default_rng(1)
    logits, rows = [], []
    for row, person in enumerate(truth):
        z = rng.normal(scale=0.5, size=(6, 6))
        z[:, person] += 4.0
        logits.append(z)
        rows += [row] * 6
    logits = np.concatenate(logits)
    teacher = np.exp(logits / 0.5) / np.exp(logits / 0.5).sum(1, keepdims=True)
    student_log = logits / 1.0 - np.log(np.exp(logits).sum(1, keepdims=True))
    faces = TrackFaces.from_embeddings(logits, np.array(rows), len(truth), FaceLoss.distillation(teacher, student_log))
    assert faces.loss.name == "self_distillation"
    assert same_partition(AdaptiveMergeClusterer().fit(faces, set()), truth)


def test_average_link_threshold_and_names():
    templates = _unit([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0.1, 0.99, 0]])
    faces = TrackFaces.from_embeddings(templates, np.arange(4), 4)
    labels = AverageLinkClusterer(threshold=0.5).fit(faces, set())
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    assert make_clusterer("average_link", 0.5).describe() == "average_link(threshold=0.5)"
    # auto: stopped by the title's own pairs of different people; a threshold given makes it the baseline
    assert make_clusterer("auto").describe() == "calibrated_link"
    assert make_clusterer("auto", 0.5).describe() == "average_link(threshold=0.5)"
    with pytest.raises(ValueError, match="adaptive_merge"):
        make_clusterer("kmeans")


@pytest.mark.parametrize("name", CLUSTERERS)
def test_a_clusterer_is_made_again_from_its_description(name):
    """What `track_clusters.clusterer` records is enough to cluster the same way again (a season does)."""
    described = make_clusterer(name, 0.45 if name == "average_link" else None).describe()
    assert make_clusterer(*clusterer_settings(described)).describe() == described


def scene_tracks(gram: np.ndarray, tracks_per_person: int = 3, seed: int = 0) -> TrackFaces:
    """Tracks of people whose centres have the cosine similarities `gram`; a track's faces agree closely."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.cholesky(gram)
    centres = np.hstack([centres, np.zeros((len(gram), 12))])
    vectors, rows = [], []
    for person, centre in enumerate(centres):
        for k in range(tracks_per_person):
            vectors.append(_unit(centre + 0.05 * rng.normal(size=(4, centre.size))))
            rows += [person * tracks_per_person + k] * 4
    return TrackFaces.from_embeddings(np.concatenate(vectors), np.array(rows), len(centres) * tracks_per_person)


def test_cooccurrence_cut_stops_where_refusals_outweigh_merges():
    # Four people, all alike (cosine 0.55), C and D a little less (0.45) and never on screen together;
    # every other pair of people shares a frame once. A 0.3 threshold merges C with D; the cut, seeing
    # the first proposals between people refused, stops before it.
    gram = np.full((4, 4), 0.55)
    gram[2, 3] = gram[3, 2] = 0.45
    np.fill_diagonal(gram, 1.0)
    faces = scene_tracks(gram)
    cannot_link = {(3 * p, 3 * q) for p in range(4) for q in range(p + 1, 4) if (p, q) != (2, 3)}
    truth = np.repeat(np.arange(4), 3)
    labels, report = CooccurrenceCutClusterer().cut(faces, cannot_link)
    assert same_partition(labels, truth) and not report.fallback
    assert report.merges == 8 and report.similarity > 0.9
    threshold = AverageLinkClusterer(threshold=0.3).fit(faces, cannot_link)
    assert threshold[6] == threshold[9]  # C and D


def test_cooccurrence_cut_falls_back_to_the_threshold_without_cooccurrences():
    faces = people_tracks()
    labels, report = CooccurrenceCutClusterer().cut(faces, set())
    assert report.fallback and np.array_equal(labels, AverageLinkClusterer().fit(faces, set()))
    empty = TrackFaces.from_embeddings(np.zeros((0, 4)), np.zeros(0, np.int64), 0)
    assert len(CooccurrenceCutClusterer().fit(empty, set())) == 0


def test_calibrated_link_stops_where_the_titles_pairs_of_different_people_say_on_any_scale():
    # People A, B, C (in two looks, C1 and C2) and D. Every two people but C and D share frames (cosines 0.35
    # to 0.45); C's two looks are 0.55 alike, C and D 0.30 and never seen together. The same cast under a
    # model whose cosines sit 0.3 lower, and one 0.1 higher: a fixed 0.3 splits C in the first and merges C
    # with D in the second; the title's pairs stop both right.
    base = np.array(
        [
            [1.00, 0.35, 0.40, 0.40, 0.40],
            [0.35, 1.00, 0.45, 0.45, 0.45],
            [0.40, 0.45, 1.00, 0.55, 0.30],
            [0.40, 0.45, 0.55, 1.00, 0.30],
            [0.40, 0.45, 0.30, 0.30, 1.00],
        ]
    )
    together = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (0, 4), (1, 4)]
    cannot_link = {(3 * p + i, 3 * q + j) for p, q in together for i in range(3) for j in range(3)}
    truth = np.repeat([0, 1, 2, 2, 3], 3)
    for shift, fixed_wrong in ((-0.3, "splits C"), (0.1, "merges C and D")):
        gram = base + shift * (1 - np.eye(5))
        faces = scene_tracks(gram)
        labels, report = CalibratedLinkClusterer().cut(faces, cannot_link)
        assert same_partition(labels, truth), (shift, labels)
        assert not report.fallback and "63 pairs of different people" in report.stopped_by
        assert 0.4 + shift < report.threshold < 0.55 + shift
        assert not same_partition(AverageLinkClusterer(threshold=0.3).fit(faces, cannot_link), truth), fixed_wrong


def test_calibrated_link_reads_its_stopping_point_from_the_pairs_seen_together_only():
    # People's "not the same person" answers add cannot-links between the most alike people, picked by the review
    # page; counted as evidence they would raise the stopping point for everyone else.
    gram = np.full((4, 4), 0.3) + 0.7 * np.eye(4)
    gram[0, 1] = gram[1, 0] = 0.6
    faces = scene_tracks(gram)
    seen = {(0, 6), (0, 9), (3, 6), (3, 9), (1, 7), (1, 10), (4, 7), (4, 10), (2, 8), (5, 11)}  # A, B with C, D
    answered = seen | {(i, 3 + j) for i in range(3) for j in range(3)}  # A and B told apart
    alone = CalibratedLinkClusterer().cut(faces, seen)[1].threshold
    assert CalibratedLinkClusterer().cut(faces, answered)[1].threshold > alone + 0.05
    calibrated = dataclasses.replace(faces, seen_together=np.array(sorted(seen)))
    assert CalibratedLinkClusterer().cut(calibrated, answered)[1].threshold == pytest.approx(alone)


def test_calibrated_link_falls_back_to_the_threshold_with_too_few_pairs():
    faces = people_tracks()
    labels, report = CalibratedLinkClusterer().cut(faces, {(0, 3)})
    assert report.fallback and "only 1 of the 10 pairs" in report.stopped_by
    assert np.array_equal(labels, AverageLinkClusterer().fit(faces, {(0, 3)}))


def scan_merges(templates, cannot_link):
    """The merge stream by scanning the whole similarity matrix at every step: the reference."""
    sim = templates @ templates.T
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(len(sim))
    blocked = np.zeros(sim.shape, bool)
    for a, b in cannot_link:
        blocked[a, b] = blocked[b, a] = True
    out = []
    while np.isfinite(sim.max()):
        a, b = np.unravel_index(int(np.argmax(sim)), sim.shape)
        out.append((round(float(sim[a, b]), 9), int(a), int(b), not blocked[a, b]))
        if blocked[a, b]:
            sim[a, b] = sim[b, a] = -np.inf
            continue
        sim[a] = (size[a] * sim[a] + size[b] * sim[b]) / (size[a] + size[b])
        sim[:, a] = sim[a]
        sim[a, a] = sim[b, b] = -np.inf
        sim[b] = sim[:, b] = -np.inf
        blocked[a] |= blocked[b]
        blocked[:, a] = blocked[a]
        size[a] += size[b]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_merge_stream_matches_a_full_scan(seed):
    rng = np.random.default_rng(seed)
    templates = _unit(rng.normal(size=(60, 8)))
    cannot_link = {tuple(sorted(rng.choice(60, 2, replace=False).tolist())) for _ in range(40)}
    fast = [(round(p.similarity, 9), p.a, p.b, p.allowed) for p in average_link_merges(templates, cannot_link)]
    assert fast == scan_merges(templates, cannot_link)


def test_templates_weigh_faces_by_norm_and_cooccurrence():
    pairs = cooccurring_pairs(np.array([0, 0, 1, 1, 2]), np.array([5, 7, 5, 9, 7]))
    assert pairs == {(5, 7), (5, 9)}
    faces = TrackFaces.from_embeddings(np.array([[2, 0], [0, 1], [0, 1]]), np.array([0, 0, 1]), 2)
    t = faces.templates()
    assert np.allclose(np.linalg.norm(t, axis=1), 1) and t[0, 0] > t[0, 1]  # the larger-norm face weighs more


def test_two_boxes_on_one_head_are_not_two_people():
    # Tracks 1 and 2 share frames 0-2 side by side (3 face widths apart); 3 sits on 1's head (a second box, a
    # third of a width off) in frames 0-1 and 2 widths away in frame 2: the median says one head.
    frames = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    track_of = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3])
    boxes = np.array(
        [[0, 0, 10, 10], [30, 0, 40, 10], [3, 0, 13, 10]] * 2 + [[0, 0, 10, 10], [30, 0, 40, 10], [20, 0, 30, 10]]
    )
    assert cooccurring_pairs(frames, track_of, boxes) == {(1, 2), (2, 3)}
    assert cooccurring_pairs(frames, track_of) == {(1, 2), (1, 3), (2, 3)}


def test_split_conflicts_separates_cooccurring_members_only():
    templates = _unit([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1]])
    labels = split_conflicts(np.array([0, 0, 0, 1]), {(0, 2)}, templates)
    assert labels[0] != labels[2] and labels[1] in (labels[0], labels[2]) and labels[3] not in labels[:3]


def test_cluster_tracks_reports_where_the_cut_stopped():
    from videoclusternet.pipeline import cluster_tracks

    faces = people_tracks((0, 0, 1, 1))
    # Tracks 10 and 12 (two people) share frame 5; every other detection has a frame of its own.
    track_of = np.array([10, 12, 11, 13])
    frames = np.array([5, 5, 6, 7])
    kept = np.array([10, 11, 12, 13])
    result = cluster_tracks(
        kept, kept[faces.track_row], faces.embeddings, frames, track_of, make_clusterer("cooccurrence_cut")
    )
    assert same_partition(result.labels, (0, 0, 1, 1)) and result.cut is not None
    assert not result.cut.fallback and result.cut.merges == 2 and result.cut.refusals == 0
    assert (
        cluster_tracks(
            kept, kept[faces.track_row], faces.embeddings, frames, track_of, make_clusterer("average_link")
        ).cut
        is None
    )


def test_constrained_union_refuses_joins_across_cannot_links_transitively():
    from videoclusternet.clustering.agglomerative import MergeProposal, labels_after
    from videoclusternet.clustering.union import ConstrainedUnion

    union = ConstrainedUnion(6, {(0, 3)})
    assert union.join(4, 3) and union.join(1, 0) and union.join(2, 1)
    assert not union.join(2, 4)  # group {0, 1, 2} holds 0, group {3, 4} holds 3: they may not join
    assert not union.join(0, 1)  # one group already
    assert union.join(5, 2) and not union.join(5, 3)  # 5 joined 0's group, so it inherits 0's refusals
    assert union.labels().tolist() == [0, 0, 0, 1, 1, 0]  # numbered by each group's first item
    assert len(set(union.roots().tolist())) == 2
    merges = [MergeProposal(1.0, 3, 4, True), MergeProposal(0.9, 0, 4, False), MergeProposal(0.8, 1, 2, True)]
    assert labels_after(5, merges).tolist() == [0, 1, 1, 2, 2]


def _five_people(a_looks: float) -> TrackFaces:
    """Two tracks each of A's first look, A's second look (face cosine `a_looks` to the first), B, C and D."""
    gram = np.array(
        [
            [1.0, a_looks, 0.10, 0.00, 0.20],
            [a_looks, 1.0, 0.05, 0.15, 0.00],
            [0.10, 0.05, 1.0, 0.20, 0.10],
            [0.00, 0.15, 0.20, 1.0, 0.05],
            [0.20, 0.00, 0.10, 0.05, 1.0],
        ]
    )
    return scene_tracks(gram, tracks_per_person=2)


def test_clothes_pull_one_persons_looks_together_and_push_others_apart():
    # A's two looks are a little less alike (0.27) than the 0.3 threshold; B, C and D are others, seen beside
    # each other and beside A. A wears the same clothes in both looks, the others their own.
    faces = _five_people(0.27)
    outfits = _unit(np.abs(np.random.default_rng(1).normal(size=(4, 16))))
    clothes = outfits[[0, 0, 1, 2, 3]].repeat(2, axis=0)
    cannot_link = {(0, 4), (0, 6), (4, 6), (5, 8), (6, 9), (2, 8), (3, 5)}
    apart = AverageLinkClusterer().fit(faces, cannot_link)
    assert apart[0] != apart[2]  # on faces alone A stays in two
    dressed = TrackFaces.from_embeddings(faces.embeddings, faces.track_row, faces.n_tracks, context=clothes)
    for clusterer in (AverageLinkClusterer(), CooccurrenceCutClusterer()):
        labels = clusterer.fit(dressed, cannot_link)
        assert same_partition(labels, np.repeat([0, 0, 1, 2, 3], 2)), clusterer.name
    # In two episodes (A's looks one in each), alike clothes still pull (a costume).
    episodes = np.array([0, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    seasons = TrackFaces.from_embeddings(faces.embeddings, faces.track_row, 10, context=clothes, scene=episodes)
    labels = AverageLinkClusterer().fit(seasons, cannot_link)
    assert labels[0] == labels[2]
    # A's looks alike enough by face (0.33), the second in clothes less like the first's than others' are like
    # each other: pushed apart inside one episode, not across two, where people change clothes.
    faces = _five_people(0.33)
    overlapping = _unit(np.eye(5) + np.eye(5, k=1))  # each outfit shares a colour with the next
    changed = overlapping[[0, 0, 4, 4, 1, 1, 2, 2, 3, 3]]
    for scene, joined in ((None, False), (episodes, True)):
        tracks = TrackFaces.from_embeddings(faces.embeddings, faces.track_row, 10, context=changed, scene=scene)
        labels = AverageLinkClusterer().fit(tracks, cannot_link)
        assert (labels[0] == labels[2]) == joined, scene
    # Inside one title, people change clothes too: unlike clothes push apart only tracks close in time.
    for later, joined in ((CLOTHES_HOLD_S / 2, False), (CLOTHES_HOLD_S * 2, True)):
        seconds = np.array([0, 1, 5, 6, 0, 0, 0, 0, 0, 0], np.float64)
        seconds[2:4] += later  # A's second look, the faces of tracks 2 and 3
        spans = track_spans(seconds, np.arange(10), np.arange(10))
        tracks = TrackFaces.from_embeddings(faces.embeddings, faces.track_row, 10, context=changed, spans=spans)
        labels = AverageLinkClusterer().fit(tracks, cannot_link)
        assert (labels[0] == labels[2]) == joined, later


def test_track_spans_are_each_tracks_first_and_last_second():
    spans = track_spans(np.array([4.0, 1.0, 2.0, 9.0, 3.0]), np.array([7, 7, 3, 5, 3]), np.array([7, 3, 8]))
    assert spans.tolist() == [[1.0, 4.0], [2.0, 3.0], [0.0, 0.0]]  # track 5 is not asked for, 8 has no faces
