"""A streaming quantile sketch for sizes and counts."""

from __future__ import annotations

import math


class LogHistogram:
    """A streaming quantile sketch of non-negative sizes: counts in logarithmic buckets
    (`per_octave` per doubling), so a quantile is exact to within one bucket (~9 %)."""

    def __init__(self, per_octave: int = 8, refresh_every: int = 64) -> None:
        self.per_octave = per_octave
        self.counts = [0] * (64 * per_octave + 1)
        self.total = 0
        self.refresh_every = refresh_every
        self._cache: dict[float, float] = {}
        self._since_refresh = 0

    def add(self, size: int) -> None:
        index = 0 if size < 1 else min(len(self.counts) - 1,
                                       1 + int(math.log2(size) * self.per_octave))
        self.counts[index] += 1
        self.total += 1
        self._since_refresh += 1
        if self._since_refresh >= self.refresh_every:
            self._cache.clear()
            self._since_refresh = 0

    def quantile(self, q: float) -> float:
        """The upper edge of the bucket holding the q-quantile (refreshed every few adds)."""
        cached = self._cache.get(q)
        if cached is None:
            cached = self._cache[q] = self._compute(q)
        return cached

    def _compute(self, q: float) -> float:
        target = q * self.total
        running = 0
        for index, count in enumerate(self.counts):
            running += count
            if running >= target and count:
                return 2.0 ** (index / self.per_octave) if index else 1.0
        return 0.0
