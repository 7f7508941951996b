"""People's corrections of a cast, as constraints: never edits of outputs.

A correction names the tracks it is about by anchors: one face of each track (its title, frame and box).
On every re-run an anchor finds its track again among the tracks of that run by box overlap, so a
correction follows its faces when the tracks change (another detector, another stride); one whose faces
are gone no longer applies, and says why.

What each verb becomes:
- `merge`, `confirm`: the persons' tracks are one person (a must-link set);
- `move`: the track is the target person's (must-link) and not its old person's (cannot-links); to `new`:
  only the cannot-links;
- `reject`: the two persons are two people (cannot-links between their tracks);
- `confirm` / `reject` of a track and a person ("is this track this person?"): a must-link, or a move out;
- `not_a_face`: the track takes no part in clustering;
- `name`: the person holding most of the anchors is called so (a later name wins);
- `undo`: the correction it names stops applying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import DisjointSet

from videoclusternet.boxes import match_faces

VERBS = ("name", "merge", "move", "not_a_face", "confirm", "reject", "undo")
Track = tuple[str, int]  # (title, track id)


@dataclass(frozen=True)
class Correction:
    """One row of the corrections log: `arguments` holds the persons named and the anchors of their tracks."""

    id: int
    scope: str  # the season
    verb: str
    arguments: dict[str, Any]
    who: str


@dataclass(frozen=True)
class TrackFacesIndex:
    """The faces of the current kept tracks, to find anchors in: per face its title, track, frame and box."""

    title: np.ndarray  # object
    track: np.ndarray
    frame: np.ndarray
    box: np.ndarray  # [F, 4]

    def find(self, anchors: Sequence[Sequence[Any]]) -> list[Track | None]:
        """The current track of each anchor `[title, frame, x1, y1, x2, y2]`, or None where none overlaps it."""
        if not anchors:
            return []
        titles = sorted({str(a[0]) for a in anchors} | set(self.title.tolist()))
        index = {t: i for i, t in enumerate(titles)}

        def keys(title, frame) -> np.ndarray:
            return np.array([index[t] for t in title], np.int64) * (1 << 32) + np.asarray(frame, np.int64)

        matched = match_faces(
            keys(self.title.tolist(), self.frame),
            self.box,
            keys([str(a[0]) for a in anchors], [int(a[1]) for a in anchors]),
            np.array([[float(v) for v in a[2:6]] for a in anchors]),
        )
        return [(str(self.title[m]), int(self.track[m])) if m >= 0 else None for m in matched]


@dataclass
class Constraints:
    """What the effective corrections of a season ask of its clustering, in terms of the current tracks."""

    must_link: list[set[Track]] = field(default_factory=list)
    cannot_link: set[tuple[Track, Track]] = field(default_factory=set)
    removed: dict[Track, int] = field(default_factory=dict)  # track -> the not-a-face correction
    names: list[tuple[int, str, list[Track]]] = field(default_factory=list)  # (correction, name, its tracks)
    applies: dict[int, str | None] = field(default_factory=dict)  # correction -> None, or why it no longer applies

    def for_title(self, title: str) -> Constraints:
        """The part that concerns one title's own clustering."""
        return Constraints(
            [{t for t in group if t[0] == title} for group in self.must_link if sum(t[0] == title for t in group) > 1],
            {(a, b) for a, b in self.cannot_link if a[0] == b[0] == title},
            {t: c for t, c in self.removed.items() if t[0] == title},
        )


def effective(corrections: Sequence[Correction]) -> list[Correction]:
    """The corrections that apply: all but the undo rows and those an undo names."""
    undone = {int(c.arguments["correction"]) for c in corrections if c.verb == "undo"}
    return [c for c in corrections if c.verb != "undo" and c.id not in undone]


def constraints_of(corrections: Sequence[Correction], faces: TrackFacesIndex) -> Constraints:
    """The effective corrections' constraints on the current tracks; each correction's `applies` says why not
    when none of its anchors (or not enough of them) has a track now."""
    out = Constraints()
    for c in effective(corrections):
        groups = [[t for t in faces.find(anchors) if t] for anchors in c.arguments.get("anchors", [])]
        if c.verb in ("confirm", "reject") and "track" in c.arguments:  # "is this track this person?"
            (track,) = faces.find([c.arguments["track"]])
            rest = [t for t in (groups[0] if groups else []) if t != track]
            if track is None or not rest:
                out.applies[c.id] = "its track, or the rest of its person, is no longer found"
                continue
            if c.verb == "confirm":
                out.must_link.append({track, *rest})
            else:
                out.must_link = [group - {track} for group in out.must_link]
                out.cannot_link |= {(track, t) for t in rest}
        elif c.verb in ("merge", "confirm"):
            found = [g for g in groups if g]
            if len(found) < 2:
                out.applies[c.id] = "the tracks of fewer than two of its persons are still found"
                continue
            out.must_link.append({t for g in found for t in g})
        elif c.verb == "reject":
            if sum(1 for g in groups if g) < 2:
                out.applies[c.id] = "the tracks of one of its persons are no longer found"
                continue
            out.cannot_link |= {(a, b) for a in groups[0] for b in groups[1]}
        elif c.verb in ("move", "not_a_face"):
            (track,) = faces.find([c.arguments["track"]])
            if track is None:
                out.applies[c.id] = "its track's face is no longer in a kept track"
                continue
            # A later correction of a track wins over earlier links of it, and a move over a not-a-face.
            out.must_link = [group - {track} for group in out.must_link]
            if c.verb == "not_a_face":
                out.removed[track] = c.id
            else:
                out.removed.pop(track, None)
                old, target = groups if len(groups) == 2 else (groups[0], [])
                out.cannot_link |= {(track, t) for t in old if t != track}
                if target:
                    out.must_link.append({track, *target})
        elif c.verb == "name":
            found = [t for g in groups for t in g]
            if not found:
                out.applies[c.id] = "none of its person's tracks is found"
                continue
            out.names.append((c.id, str(c.arguments["name"]), found))
        out.applies.setdefault(c.id, None)
    return out


def must_link_groups(rows: Sequence[Track], base: np.ndarray, constraints: Constraints) -> np.ndarray:
    """Groups (0..G-1 per row) for a clusterer: `base` (say, each episode's clusters) with the corrections
    applied: a track cannot-linked by a correction to tracks of its own group leaves it, then every must-link
    set joins the groups of its tracks."""
    row_of = {t: i for i, t in enumerate(rows)}
    base = np.asarray(base, np.int64).copy()
    leaving = {a for pair in constraints.cannot_link for a in pair if a in row_of}
    partners: dict[Track, set[Track]] = {}
    for a, b in constraints.cannot_link:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    fresh = int(base.max()) + 1 if len(base) else 0
    for t in sorted(leaving):
        mates = {r for r in partners.get(t, ()) if r in row_of and base[row_of[r]] == base[row_of[t]]}
        if mates:
            base[row_of[t]], fresh = fresh, fresh + 1
    sets = DisjointSet(base.tolist())
    for group in constraints.must_link:
        present = [base[row_of[t]] for t in group if t in row_of]
        for g in present[1:]:
            sets.merge(present[0], g)
    roots = [sets[g] for g in base.tolist()]
    _, labels = np.unique(roots, return_inverse=True)
    return labels.reshape(-1)


def correction_cannot_links(rows: Sequence[Track], constraints: Constraints) -> set[tuple[int, int]]:
    """The corrections' cannot-link pairs as row pairs of `rows`."""
    row_of = {t: i for i, t in enumerate(rows)}
    return {
        (min(row_of[a], row_of[b]), max(row_of[a], row_of[b]))
        for a, b in constraints.cannot_link
        if a in row_of and b in row_of
    }
