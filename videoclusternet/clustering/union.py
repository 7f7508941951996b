"""Union-find that refuses to join two groups holding a cannot-link pair (tracks seen in one frame)."""

from __future__ import annotations

import numpy as np


class ConstrainedUnion:
    def __init__(self, n: int, cannot_link: set[tuple[int, int]]) -> None:
        self._parent = list(range(n))
        self._members: list[set[int]] = [{i} for i in range(n)]
        self._apart: list[set[int]] = [set() for _ in range(n)]  # per root: the items its group may not join
        for a, b in cannot_link:
            self._apart[a].add(b)
            self._apart[b].add(a)

    def find(self, i: int) -> int:
        while self._parent[i] != i:
            self._parent[i] = self._parent[self._parent[i]]
            i = self._parent[i]
        return i

    def join(self, a: int, b: int) -> bool:
        """Join the groups of a and b; False when they are one group already or may not be joined."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb or self._apart[ra] & self._members[rb]:
            return False
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._members[ra] |= self._members[rb]
        self._members[rb] = set()
        self._apart[ra] |= self._apart[rb]
        self._apart[rb] = set()
        return True

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self._parent))], np.int64)

    def labels(self) -> np.ndarray:
        """Group label per item, 0..K-1 numbered by each group's first item."""
        roots = self.roots()
        order = {r: k for k, r in enumerate(dict.fromkeys(roots.tolist()))}
        return np.array([order[r] for r in roots.tolist()], np.int64)
