"""Integer ranges with labels, made disjoint so a lookup is one bisect and one comparison."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable


class RangeTable:
    """Sorted, disjoint, inclusive `[start, end]` integer ranges, each with a label.

    Where input ranges overlap, the label with the lowest `rank` wins; adjacent
    pieces with the same label are merged."""

    __slots__ = ("_starts", "_ends", "_labels")

    def __init__(self, spans: Iterable[tuple[int, int, int]],
                 rank: Callable[[int], int] = lambda label: label) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._labels: list[int] = []
        self._sweep(spans, rank)

    def find(self, value: int) -> int | None:
        index = bisect_right(self._starts, value) - 1
        if index < 0 or value > self._ends[index]:
            return None
        return self._labels[index]

    def __len__(self) -> int:
        return len(self._starts)

    def _sweep(self, spans: Iterable[tuple[int, int, int]], rank: Callable[[int], int]) -> None:
        bounds: list[tuple[int, int, int]] = []
        for start, end, label in spans:
            bounds.append((start, 1, label))
            bounds.append((end + 1, -1, label))
        bounds.sort(key=lambda bound: bound[0])
        active: dict[int, int] = {}
        index, count = 0, len(bounds)
        while index < count:
            position = bounds[index][0]
            while index < count and bounds[index][0] == position:
                _, delta, label = bounds[index]
                depth = active.get(label, 0) + delta
                if depth:
                    active[label] = depth
                else:
                    del active[label]
                index += 1
            if active:
                # An open range always has its end bound still ahead.
                self._append(position, bounds[index][0] - 1, min(active, key=rank))

    def _append(self, start: int, end: int, label: int) -> None:
        if self._labels and self._labels[-1] == label and self._ends[-1] == start - 1:
            self._ends[-1] = end
            return
        self._starts.append(start)
        self._ends.append(end)
        self._labels.append(label)
