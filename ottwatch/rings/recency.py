"""Least-recently-seen order for the ring graph's capped user and resource maps."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

EVICT_FRACTION = 20  # a full map evicts its least recently seen twentieth at once

_K = TypeVar("_K")


def mark_seen(seen: OrderedDict[_K, float], key: _K, ts: float, cap: int,
               forget: Callable[[_K], None]) -> None:
    """`key` seen at `ts`: the map stays ordered least recently seen first, and a new key
    in a full map first evicts the least recently seen twentieth."""
    last = seen.get(key)
    if last is None:
        if len(seen) >= cap:
            for old in least_recent(seen, cap):
                forget(old)
        seen[key] = ts
    elif ts > last:
        seen[key] = ts
        seen.move_to_end(key)


def least_recent(seen: OrderedDict[_K, float], cap: int) -> list[_K]:
    """The least recently seen twentieth of a full map (evicted together, so an insert
    costs O(1) amortised)."""
    count = max(1, cap // EVICT_FRACTION)
    return [key for key, _ in zip(seen, range(count), strict=False)]
