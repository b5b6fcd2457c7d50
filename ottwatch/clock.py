"""Clocks are injected: the agent runs on wall time, replay on event time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class WallClock:
    def now(self) -> float:
        return time.time()


class EventClock:
    """Time is the newest event time seen so far (a watermark); it never goes back."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def advance(self, ts: float) -> None:
        if ts > self._now:
            self._now = ts

    def now(self) -> float:
        return self._now


class FixedClock:
    """A clock tests set by hand."""

    def __init__(self, now: float) -> None:
        self._now = now

    def set(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` have passed, whichever comes first: the pause
    of every loop that must also stop promptly."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
