"""A bounded map with least-recently-used eviction, for per-user and per-IP state."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruMap(Generic[K, V]):
    """A map of at most `capacity` keys; using a key makes it the most recent, and a new
    key beyond the capacity evicts the least recently used one."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        data = self._data
        value = data.get(key)
        if value is None:
            value = data[key] = factory()
            if len(data) > self.capacity:
                data.popitem(last=False)
        else:
            data.move_to_end(key)
        return value

    def items(self) -> Iterator[tuple[K, V]]:
        """Least recently used first."""
        return iter(self._data.items())

    def pop(self, key: K) -> V | None:
        return self._data.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
