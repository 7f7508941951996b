"""Effort to a correct cast: a person answering the review page's "same person?" questions with a clip's truth.

Each clip (default: every clip of ../shared/data/clips) runs through `vcn run` once. Then, in process, the
questions are asked in the page's order (`videoclusternet.questions`: likely and large pairs first), each
answered from the truth (yes when the two persons' faces are mostly one true identity, which becomes a
must-link; no, a cannot-link), the cast is linked again with the answers as constraints, and face BCubed F
(as the referee counts it: faces set aside are singletons) is printed after each answer. The baseline asks
random pairs (never two persons seen in one frame, never one asked before). Printed per clip: F before, the
answers needed to reach F 0.95 and 0.98 with each order, and F after every answer.

    python bench/bench_effort.py [CLIP_DIR ...] [--answers 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO, VCN, clips_from_command_line, title_of, vcn_env  # noqa: E402

TARGETS = (0.95, 0.98)


class Cast:
    """One clip's linking state: its tracks, their truth, and the answers given so far."""

    def __init__(self, home: Path, title: str, truth_csv: Path) -> None:
        sys.path.insert(0, str(REPO))
        from vcn_resources.results import load_episode_identities
        from vcn_resources.warehouse import Warehouse
        from videoclusternet.clustering import TrackFaces, make_clusterer
        from videoclusternet.corrections import Constraints
        from videoclusternet.metrics import PredictionRows, match_boxes, read_truth_csv

        warehouse = Warehouse(home)
        self.title = title
        self.episode = load_episode_identities(warehouse, title)
        rows = np.searchsorted(self.episode.tracks, self.episode.face_track)
        self.templates = TrackFaces.from_embeddings(self.episode.embeddings, rows, len(self.episode.tracks)).templates()
        self.context = self.episode.context
        tracks = warehouse.rows("tracks", title)
        score = dict(zip(tracks["track"].tolist(), tracks["median_score"].tolist()))
        self.faceness = np.array([score[int(t)] for t in self.episode.tracks])
        self.clusterer = make_clusterer("auto")
        self.constraints = Constraints()
        detections = (
            warehouse.connect()
            .execute(
                "SELECT frame, x1, y1, x2, y2, track, track_status FROM detections WHERE title = ? "
                "ORDER BY frame, face",
                [title],
            )
            .fetchall()
        )
        truth = read_truth_csv(truth_csv)
        boxes = [d[1:5] for d in detections]
        pred = PredictionRows(frame_idx=[d[0] for d in detections], boxes=boxes, cluster_id=[None] * len(detections))
        matched = match_boxes(truth, pred)
        kind = truth.kind
        self.faces = [i for i in range(len(truth)) if kind[i] == "identity" and matched[i] >= 0]
        self.labels = [truth.identity[i] for i in self.faces]
        self.face_track = [
            int(detections[matched[i]][5]) if detections[matched[i]][6] == "kept" else -1 - int(matched[i])
            for i in self.faces
        ]
        self.track_size = Counter(int(d[5]) for d in detections if d[6] == "kept")
        # Each track's evaluated faces by true identity.
        self.track_votes: dict[int, Counter] = {}
        for track, label in zip(self.face_track, self.labels):
            if track >= 0:
                self.track_votes.setdefault(track, Counter())[label] += 1

    def persons(self) -> np.ndarray:
        """Each kept track's person in the linking with the answers so far."""
        from videoclusternet.linking import link_season

        return link_season([self.episode], self.clusterer, self.constraints).person

    def f(self, person: np.ndarray) -> float:
        from videoclusternet.metrics import cluster_scores

        of = dict(zip(self.episode.tracks.tolist(), person.tolist()))
        clusters = [of[t] if t in of else ("", t) for t in self.face_track]
        return float(cluster_scores(self.labels, clusters).bcubed_f)

    def answer(self, person: np.ndarray, question) -> bool:
        """Answer a question from the truth, as the page's yes or no would: for two persons, a confirm
        (must-link) or a reject (cannot-links); for a track, a confirm or a move to a person of its own."""
        key = [(self.title, int(t)) for t in self.episode.tracks]
        if question.track is None:
            sides = [[k for k, p in zip(key, person) if p == side] for side in (question.a, question.b)]
        else:
            sides = [
                [key[question.track]],
                [k for k, p in zip(key, person) if p == question.a and k != key[question.track]],
            ]

        def truth_of(tracks: list) -> str | None:
            """The true identity of most of the tracks' labelled faces (None: none is labelled)."""
            votes = sum((self.track_votes.get(t[1], Counter()) for t in tracks), Counter())
            return votes.most_common(1)[0][0] if votes else None

        same = truth_of(sides[0]) is not None and truth_of(sides[0]) == truth_of(sides[1])
        if same:
            self.constraints.must_link.append({*sides[0], *sides[1]})
        else:
            self.constraints.cannot_link |= {(x, y) for x in sides[0] for y in sides[1]}
        return same


def track_faces(cast: Cast) -> np.ndarray:
    """Each kept track's faces (all of them, not only those embedded)."""
    return np.array([cast.track_size[int(t)] for t in cast.episode.tracks], float)


def together_and_apart(cast: Cast, person: np.ndarray) -> tuple[dict, set]:
    """Person pairs seen in one frame (with how many track pairs), and those the answers told apart."""
    from videoclusternet.questions import person_pairs

    row = {int(t): i for i, t in enumerate(cast.episode.tracks)}
    seen = [(row[a], row[b]) for a, b in cast.episode.cannot_link if a in row and b in row]
    told = [(row[a[1]], row[b[1]]) for a, b in cast.constraints.cannot_link]
    return person_pairs(seen, person), set(person_pairs(told, person))


def session(cast: Cast, answers: int, order: str, rng: np.random.Generator) -> list[float]:
    """F before and after each answer, asking in the page's order or at random."""
    from videoclusternet.questions import Question, suggested_questions

    cast.constraints = type(cast.constraints)()
    person = cast.persons()
    faces = track_faces(cast)
    row = {(cast.title, int(t)): i for i, t in enumerate(cast.episode.tracks)}
    scores, asked = [cast.f(person)], set()
    for _ in range(answers):
        together, apart = together_and_apart(cast, person)
        settled = {row[t] for group in cast.constraints.must_link for t in group}
        if order == "page":
            (question, *_) = suggested_questions(
                cast.templates, person, faces, together, apart, settled, 1, cast.context, cast.faceness
            ) or [None]
            if question is None:
                break
        else:
            n = int(person.max()) + 1
            pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if (a, b) not in set(together) | apart | asked]
            if not pairs:
                break
            a, b = pairs[rng.integers(len(pairs))]
            question = Question(a, b, None, 0.0, 0.0, 0.0)
            asked.add((a, b))
        said = cast.answer(person, question)
        if order == "page" and len(scores) <= 8 and os.environ.get("VERBOSE"):
            print(f"  {question} -> {'yes' if said else 'no'}")
        person = cast.persons()
        scores.append(cast.f(person))
    return scores


def answers_to(scores: list[float], target: float) -> str:
    return next((str(i) for i, s in enumerate(scores) if s >= target), f">{len(scores) - 1}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    clips, args, cache = clips_from_command_line(parser)
    targets = " ".join(f"{'to ' + str(t):>8}" for t in TARGETS)
    print(f"{'clip':10} {'order':7} {'F before':>8} {targets}  F per answer")
    for clip in clips:
        home = (args.keep_home or REPO / "bench" / "out" / "effort") / clip.name
        title = title_of(clip)
        if not (home / "vcn.duckdb").exists():
            run = [*VCN, "run", str(clip / "video.mp4"), "--title", title]
            subprocess.run(run, env=vcn_env(home, cache), check=True, capture_output=True)
        cast = Cast(home, title, clip / "faces.csv")
        for order in ("page", "random"):
            scores = session(cast, args.answers, order, np.random.default_rng(args.seed))
            reached = " ".join(f"{answers_to(scores, t):>8}" for t in TARGETS)
            trail = " ".join(f"{s:.3f}" for s in scores[1:])
            print(f"{clip.name:10} {order:7} {scores[0]:8.3f} {reached}  {trail}")


if __name__ == "__main__":
    main()
