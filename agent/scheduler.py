"""Periodic jobs of the agent (retention, retraining, threshold learning, silences
refresh, the command poller). Jobs run in worker threads, off the ingest path;
a job never runs twice at once, and a failing job is logged, not fatal."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ottwatch.clock import wait_at_most

log = logging.getLogger("ottwatch.scheduler")


def parse_daily(at: str) -> tuple[int, int]:
    """`"03:00"` -> (3, 0)."""
    hours, sep, minutes = at.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"expected HH:MM, got {at!r}")
    h, m = int(hours), int(minutes)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"expected HH:MM, got {at!r}")
    return h, m


def next_daily(after: float, at: str) -> float:
    """The next time (UTC) at HH:MM strictly after `after`."""
    h, m = parse_daily(at)
    moment = datetime.fromtimestamp(after, UTC)
    candidate = moment.replace(hour=h, minute=m, second=0, microsecond=0)
    if candidate.timestamp() <= after:
        candidate += timedelta(days=1)
    return candidate.timestamp()


@dataclass
class Job:
    name: str
    run: Callable[[], object]
    every_s: float | None = None  # an interval, or…
    daily_at: str | None = None  # …a time of day (UTC), "HH:MM"
    next_at: float = 0.0
    running: bool = False
    runs: int = 0
    last_error: str | None = None
    last_duration_s: float | None = None
    history: list[float] = field(default_factory=list)

    def schedule(self, now: float) -> None:
        if self.daily_at is not None:
            self.next_at = next_daily(now, self.daily_at)
        else:
            self.next_at = now + (self.every_s or 60.0)


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.time, tick_s: float = 1.0) -> None:
        self.jobs: dict[str, Job] = {}
        self.clock = clock
        self.tick_s = tick_s
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, job: Job, *, run_now: bool = False) -> Job:
        now = self.clock()
        if run_now:
            job.next_at = now
        else:
            job.schedule(now)
        self.jobs[job.name] = job
        return job

    def trigger(self, name: str) -> None:
        """Run a job at the next tick (on demand)."""
        self.jobs[name].next_at = self.clock()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self.clock()
            for job in self.jobs.values():
                if not job.running and job.next_at <= now:
                    job.running = True
                    task = asyncio.create_task(self._run(job))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            await wait_at_most(stop, self.tick_s)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(job.run)
            job.last_error = None
        except Exception as exc:  # a failing job must not stop the agent
            job.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", job.name)
        finally:
            job.runs += 1
            job.last_duration_s = time.perf_counter() - started
            job.running = False
            job.schedule(self.clock())
