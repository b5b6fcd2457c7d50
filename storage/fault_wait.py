"""Waiting out a storage fault: the same call is retried with capped exponential
backoff while the database is locked, full or unreachable; one WARNING when the fault
starts, one INFO with its duration when it clears, hooks for both (status, alert).
Any other error is re-raised at once. A stop request ends the wait with
`StorageUnavailable`: what was in hand was not stored."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from storage.faults import StorageFault, classify, describe

INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outage:
    fault: StorageFault
    since: float  # wall time of the first failure
    started: float  # monotonic, for the duration

    @property
    def since_text(self) -> str:
        return datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def summary(self) -> str:
        return f"{self.fault.what} since {self.since_text}"


class StorageUnavailable(Exception):  # noqa: N818 - a state, as the operator reads it
    """A stop was requested while the database was unavailable."""

    def __init__(self, outage: Outage) -> None:
        super().__init__(f"stopped while waiting out a storage fault: {outage.summary}")
        self.outage = outage


class FaultWaiter:
    """Shared by the threads that write to one database: one outage at a time. The
    outage clears when a call that waited succeeds, or when any call succeeds while
    none is waiting (a read may succeed while writes are still refused)."""

    def __init__(self, log: logging.Logger, *, pausing: str,
                 initial_s: float = INITIAL_BACKOFF_S, max_s: float = MAX_BACKOFF_S,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.pausing = pausing  # what the WARNING says is paused meanwhile
        self.initial_s = initial_s
        self.max_s = max_s
        self.wall = wall
        self.monotonic = monotonic
        self.on_start: list[Callable[[Outage], None]] = []
        self.on_clear: list[Callable[[Outage, float], None]] = []
        self.outage: Outage | None = None
        self.outages = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._waiting = 0

    def halt(self) -> None:
        """A stop was requested: waiting calls give up at once (and later ones at their
        first fault)."""
        self._halt.set()

    def call(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        delay = self.initial_s
        waited = False
        try:
            while True:
                attempted_at = self.wall()  # a lock has been held since at least then
                try:
                    result = func(*args, **kwargs)
                except Exception as exc:
                    fault = classify(exc)
                    if fault is None:
                        raise
                    if not waited:
                        waited = True
                        with self._lock:
                            self._waiting += 1
                    outage = self._begin(fault, attempted_at)
                    if self._halt.is_set() or self._halt.wait(delay):
                        raise StorageUnavailable(outage) from None
                    delay = min(self.max_s, delay * 2)
                    continue
                self._succeeded(waited)
                return result
        finally:
            if waited:
                with self._lock:
                    self._waiting -= 1

    def _begin(self, fault: StorageFault, since: float) -> Outage:
        with self._lock:
            if self.outage is not None:
                return self.outage
            started = self.monotonic() - max(0.0, self.wall() - since)
            outage = self.outage = Outage(fault, since, started)
            self.outages += 1
        self.log.warning("storage fault: %s (%s); %s, retrying with backoff up to %g s "
                         "until it clears", outage.summary, fault.code, self.pausing, self.max_s)
        for hook in self.on_start:
            _run_hook(self.log, hook, outage)
        return outage

    def _succeeded(self, waited: bool) -> None:
        with self._lock:
            outage = self.outage
            if outage is None or (not waited and self._waiting):
                return
            self.outage = None
        duration = self.monotonic() - outage.started
        self.log.info("storage fault cleared: %s, %.1f s; resuming", outage.summary, duration)
        for hook in self.on_clear:
            _run_hook(self.log, hook, outage, duration)


def _run_hook(log: logging.Logger, hook: Callable[..., None], *args: object) -> None:
    try:
        hook(*args)
    except Exception as exc:  # a status or alert hook never ends the wait
        log.error("storage fault hook %s failed: %s", getattr(hook, "__name__", hook),
                  describe(exc))
