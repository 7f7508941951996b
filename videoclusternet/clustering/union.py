"""Union-find (scipy's DisjointSet) that refuses to join two groups holding a cannot-link pair (tracks seen in
one frame), and the group labels of a plain one."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import DisjointSet


def group_labels(sets: DisjointSet, n: int) -> np.ndarray:
    """Group label per item 0..n-1, 0..K-1 numbered by each group's first item."""
    roots = [sets[i] for i in range(n)]
    order = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([order[r] for r in roots], np.int64)


class ConstrainedUnion:
    """Groups of items 0..n-1 in a DisjointSet, and per group root the items that group may not join."""

    def __init__(self, n: int, cannot_link: set[tuple[int, int]]) -> None:
        self._n = n
        self._sets = DisjointSet(range(n))
        self._apart: dict[int, set[int]] = {}  # per root: the items its group may not join (absent: none)
        for a, b in cannot_link:
            self._apart.setdefault(a, set()).add(b)
            self._apart.setdefault(b, set()).add(a)

    def find(self, i: int) -> int:
        return self._sets[i]

    def join(self, a: int, b: int) -> bool:
        """Join the groups of a and b; False when they are one group already or may not be joined."""
        ra, rb = self._sets[a], self._sets[b]
        if ra == rb:
            return False
        if self._conflict(ra, rb):
            return False
        self._sets.merge(ra, rb)
        root = self._sets[ra]
        child = rb if root == ra else ra
        if child in self._apart:
            kept, moved = self._apart.pop(root, set()), self._apart.pop(child)
            if len(kept) < len(moved):
                kept, moved = moved, kept
            kept |= moved
            self._apart[root] = kept
        return True

    def _conflict(self, ra: int, rb: int) -> bool:
        """Whether the groups of roots ra and rb hold a cannot-link pair (the relation is symmetric, so the
        smaller apart set is searched for the other group). A search that finds none keeps one item per
        refused group: the same constraint, as groups only grow, in a set that stays small."""
        apart_a, apart_b = self._apart.get(ra, set()), self._apart.get(rb, set())
        if len(apart_a) > len(apart_b):
            ra, rb, apart_a = rb, ra, apart_b
        groups = set()
        for x in apart_a:
            root = self._sets[x]
            if root == rb:
                return True
            groups.add(root)
        if len(groups) < len(apart_a):
            self._apart[ra] = groups
        return False

    def roots(self) -> np.ndarray:
        return np.array([self._sets[i] for i in range(self._n)], np.int64)

    def labels(self) -> np.ndarray:
        """Group label per item, 0..K-1 numbered by each group's first item."""
        return group_labels(self._sets, self._n)
