"""A bounded uniform sample of feature rows (reservoir sampling, Algorithm R),
vectorised per batch: every row seen so far has the same chance to be kept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ottwatch.learning.features import N_NUMERIC, FeatureRows


@dataclass(slots=True)
class Sample:
    """Rows the reservoir holds, with their event ids, out of `seen` rows offered."""

    rows: FeatureRows
    event_ids: np.ndarray  # object (str)
    seen: int

    def __len__(self) -> int:
        return len(self.event_ids)


class Reservoir:
    def __init__(self, capacity: int, seed: int = 7) -> None:
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.size = 0
        self.seen = 0
        self._rows = FeatureRows.empty(0)
        self._ids = np.empty(0, dtype=object)

    def _grow(self, needed: int) -> None:
        have = len(self._ids)
        if needed <= have:
            return
        new = min(self.capacity, max(needed, 2 * have, 1024))
        rows = FeatureRows.empty(new)
        rows.numeric[:have] = self._rows.numeric
        rows.types[:have] = self._rows.types
        rows.segments[:have] = self._rows.segments
        rows.reasons[:have] = self._rows.reasons
        ids = np.empty(new, dtype=object)
        ids[:have] = self._ids
        self._rows, self._ids = rows, ids

    def add(self, rows: FeatureRows, event_ids: list[str]) -> None:
        n = len(event_ids)
        if n == 0:
            return
        fill = min(self.capacity - self.size, n)
        if fill > 0:
            self._grow(self.size + fill)
            self._put(np.arange(self.size, self.size + fill), rows, np.arange(fill), event_ids)
            self.size += fill
        if fill < n:
            # Row k of the batch is row number seen+k overall (0-based): kept with
            # probability capacity/(seen+k+1), in a uniformly drawn slot.
            numbers = self.seen + np.arange(fill, n)
            slots = (self.rng.random(n - fill) * (numbers + 1)).astype(np.int64)
            kept = slots < self.capacity
            if kept.any():
                sources = np.arange(fill, n)[kept]
                targets = slots[kept]
                # a slot drawn twice keeps the later row, as the sequential algorithm does
                last = len(targets) - 1 - np.unique(targets[::-1], return_index=True)[1]
                self._put(targets[last], rows, sources[last], event_ids)
        self.seen += n

    def _put(self, targets: np.ndarray, rows: FeatureRows, sources: np.ndarray,
             event_ids: list[str]) -> None:
        self._rows.numeric[targets] = rows.numeric[sources]
        self._rows.types[targets] = rows.types[sources]
        self._rows.segments[targets] = rows.segments[sources]
        self._rows.reasons[targets] = rows.reasons[sources]
        ids = np.empty(len(sources), dtype=object)
        ids[:] = [event_ids[i] for i in sources.tolist()]
        self._ids[targets] = ids

    def sample(self) -> Sample:
        """A copy of the rows held (safe to use while the reservoir keeps filling)."""
        n = self.size
        rows = self._rows.take(slice(0, n))
        return Sample(FeatureRows(rows.numeric.copy(), rows.types.copy(), rows.segments.copy(),
                                  rows.reasons.copy()), self._ids[:n].copy(), self.seen)

    def arrays(self) -> dict[str, np.ndarray]:
        n = self.size
        return {"numeric": self._rows.numeric[:n], "types": self._rows.types[:n],
                "segments": self._rows.segments[:n], "reasons": self._rows.reasons[:n]}

    def event_ids(self) -> list[str]:
        return self._ids[:self.size].tolist()

    def load(self, arrays: dict[str, np.ndarray], event_ids: list[str], seen: int) -> None:
        n = min(len(event_ids), self.capacity)
        if arrays["numeric"].shape[1:] != (N_NUMERIC,):
            raise ValueError("reservoir rows of another feature layout")
        self.size = 0
        self._rows = FeatureRows.empty(0)
        self._ids = np.empty(0, dtype=object)
        self._grow(n)
        self._rows.numeric[:n] = arrays["numeric"][:n]
        self._rows.types[:n] = arrays["types"][:n]
        self._rows.segments[:n] = arrays["segments"][:n]
        self._rows.reasons[:n] = arrays["reasons"][:n]
        self._ids[:n] = event_ids[:n]
        self.size = n
        self.seen = max(seen, n)
