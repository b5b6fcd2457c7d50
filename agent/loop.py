"""The agent loop: sources -> micro-batches -> parse/validate -> pipeline -> one
transaction (events, quarantine, assessments, checkpoints) -> after-commit hooks.

Sources run as asyncio tasks feeding a bounded queue (backpressure). A batch
closes at `batch_size` lines or `batch_latency` seconds after its first line,
whichever comes first, and is processed in a worker thread so the event loop
keeps reading while SQLite writes.

Every database call goes through `self.storage`, which waits out a locked, full or
unreachable database by retrying the same call: meanwhile nothing is taken from the
queue, so the sources stop once it is full and the data waits in the files and the
sockets' buffers (backpressure: nothing dropped, nothing read twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from agent.sources.base import Chunk, Source
from agent.stats import AgentStats
from ottwatch.clock import Clock, EventClock
from ottwatch.events import Event, Rejection, parse_line
from ottwatch.pipeline import Assessment, Batch, Finding, Pipeline
from ottwatch.time_bounds import FutureBound, Verdict
from ottwatch.vocabulary import Quarantined, SourcePosition
from storage.fault_wait import FaultWaiter
from storage.faults import describe, safe_traceback
from storage.writer import BatchWriter

log = logging.getLogger("ottwatch.agent")

IDLE_WAKE_S = 0.5
PAUSED = "sources paused (files and socket buffers hold the data)"

AfterCommit = Callable[[list[Event], list[Assessment], list[Finding]], None]


class Agent:
    def __init__(
        self,
        engine: Engine,
        pipeline: Pipeline,
        sources: Sequence[Source],
        clock: Clock,
        *,
        batch_size: int = 2000,
        batch_latency: float | None = 0.05,
        max_line: int = 64 * 1024,
        quarantine_head: int = 4096,
        queue_chunks: int = 64,
        checkpoint: bool = True,
        overlap_commits: bool | None = None,
        after_commit: Sequence[AfterCommit] = (),
        on_idle: Sequence[Callable[[], None]] = (),
        time_bound: FutureBound | None = None,
        storage: FaultWaiter | None = None,
    ) -> None:
        self.engine = engine
        self.storage = storage or FaultWaiter(log, pausing=PAUSED)
        self.writer = BatchWriter(engine)
        self.pipeline = pipeline
        self.sources = list(sources)
        self.clock = clock
        self.batch_size = batch_size
        self.batch_latency = batch_latency
        self.max_line = max_line
        self.quarantine_head = quarantine_head
        self.queue_chunks = queue_chunks
        self.checkpoint = checkpoint
        self.after_commit = list(after_commit)
        self.on_idle = list(on_idle)
        self.time_bound = time_bound or FutureBound(skew_s=0)  # none by default
        self.stats = AgentStats()
        # Called with each committed batch's latency (its first line read to its commit).
        self.batch_observers: list[Callable[[float], None]] = []
        # Narrows a scored batch to what is stored (a windowed or filtered replay).
        self.trim: Callable[[Batch], None] | None = None
        # Told every batch's events (as read, before any trim), the time and the batch
        # as stored; an idle tick comes with no events (replay --compare scores them again).
        self.batch_watchers: list[Callable[[list[Event], float, Batch], None]] = []
        # Where the database works while Python waits (PostgreSQL, over a socket), batch N
        # commits on a writer thread while batch N+1 is parsed and scored; one thread
        # keeps commits in order, and a commit waits for the one before it. SQLite's
        # driver takes the interpreter lock back for every row it binds, so there a
        # writer thread contends with scoring more than it overlaps, so there batches
        # commit in line (docs/performance.md has the measurement).
        if overlap_commits is None:
            overlap_commits = engine.dialect.name != "sqlite"
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ottwatch-writer") \
            if overlap_commits else None
        self._pending: Future[None] | None = None
        self._inflight_ids: set[str] = set()

    # -- running -----------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> AgentStats:
        """Run until every (finite) source is done, or `stop` is set; then drain."""
        stop = stop or asyncio.Event()
        self.stats.started = time.perf_counter()
        self.stats.cpu_started = time.process_time()
        queue: asyncio.Queue[Chunk] = asyncio.Queue(maxsize=self.queue_chunks)
        sources_stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(queue, sources_stop), name=s.name)
                 for s in self.sources]
        stop_waiter = asyncio.create_task(stop.wait())
        # A stop ends a wait for the database (the batch in hand is then not stored).
        stop_waiter.add_done_callback(lambda _: self.storage.halt())
        try:
            while True:
                if stop.is_set() and not sources_stop.is_set():
                    log.info("stopping: draining sources")
                    sources_stop.set()
                chunks = await self._collect(queue, tasks, stop_waiter)
                if chunks:
                    await asyncio.to_thread(self.process, chunks)
                else:
                    await asyncio.to_thread(self._idle)
                if all(t.done() for t in tasks) and queue.empty():
                    break
            if self.time_bound.holding:  # lines that wait for a verdict the input never gave
                await asyncio.to_thread(self.process, [], end_of_input=True)
            for task in tasks:
                if not task.cancelled() and (exc := task.exception()) is not None:
                    raise exc
            await asyncio.to_thread(self._finish)
            self.stats.finished = time.perf_counter()
            self.stats.cpu_finished = time.process_time()
        finally:
            self.storage.halt()  # cancelled or failed: no thread keeps waiting for the database
            sources_stop.set()
            stop_waiter.cancel()
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats

    async def _collect(
        self, queue: asyncio.Queue[Chunk], tasks: list[asyncio.Task], stop_waiter: asyncio.Task
    ) -> list[Chunk]:
        chunks: list[Chunk] = []
        if queue.empty():
            getter = asyncio.create_task(queue.get())
            waiters = {getter, stop_waiter, *[t for t in tasks if not t.done()]}
            done, _ = await asyncio.wait(waiters, timeout=IDLE_WAKE_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                try:
                    chunks.append(await getter)  # it may have completed while cancelling
                except asyncio.CancelledError:
                    return chunks
            else:
                chunks.append(getter.result())
        else:
            chunks.append(queue.get_nowait())
        lines = len(chunks[0].lines)
        # No latency bound (replay): batches close by size alone, so their boundaries,
        # and with them the event clock, do not depend on how fast the input arrives.
        deadline = None if self.batch_latency is None else time.monotonic() + self.batch_latency
        while lines < self.batch_size:
            if queue.empty():
                chunk = await self._next_chunk(queue, tasks, deadline)
                if chunk is None:
                    break
            else:
                chunk = queue.get_nowait()
            chunks.append(chunk)
            lines += len(chunk.lines)
        return chunks

    @staticmethod
    async def _next_chunk(queue: asyncio.Queue[Chunk], tasks: list[asyncio.Task],
                          deadline: float | None) -> Chunk | None:
        """The next chunk, or None when the deadline passes or every source is done."""
        running = [t for t in tasks if not t.done()]
        if not running:
            return None
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            return None
        getter = asyncio.create_task(queue.get())
        done, _ = await asyncio.wait({getter, *running}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        try:
            return await getter  # it may have completed while being cancelled
        except asyncio.CancelledError:
            return None if queue.empty() else queue.get_nowait()

    def flush(self) -> None:
        """Wait for the commit in flight; re-raises its error."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _finish(self) -> None:
        self.flush()
        final = self.pipeline.save_state(self.clock.now())
        if final.upserts:
            self._commit(final, [], [])

    def _idle(self) -> None:
        self.flush()
        batch = self.pipeline.tick(self.clock.now())
        if self.trim is not None:
            self.trim(batch)
        for watch in self.batch_watchers:
            watch([], batch.now, batch)
        if batch.findings or batch.upserts:
            self._commit(batch, [], [])
        for hook in self.on_idle:
            hook()

    # -- one batch -----------------------------------------------------------------
    def process(self, chunks: list[Chunk], *, end_of_input: bool = False) -> Batch:
        events: list[Event] = []
        quarantined: list[Quarantined] = []
        positions: dict[str, SourcePosition] = {}
        head = self.quarantine_head
        for chunk in chunks:
            source = chunk.source
            for offset, data, length in chunk.too_long:
                quarantined.append(Quarantined(source, offset, "line_too_long",
                                               f"{length} bytes, limit {self.max_line}",
                                               data[:head], length))
            verdicts = chunk.verdicts if chunk.verdicts is not None else (
                parse_line(data, source=source, offset=offset, max_line_bytes=self.max_line)
                for offset, data in chunk.lines)
            for (offset, data), parsed in zip(chunk.lines, verdicts, strict=True):
                if isinstance(parsed, Rejection):
                    quarantined.append(Quarantined(source, offset, parsed.reason, parsed.detail,
                                                   data[:head], len(data)))
                else:
                    self._admit(self.time_bound.admit(parsed, data), events, quarantined)
            if chunk.position is not None:
                positions[chunk.position.source] = chunk.position
        if end_of_input:
            self._admit(self.time_bound.finish(), events, quarantined)
        self.stats.lines += sum(len(c.lines) + len(c.too_long) for c in chunks)
        read_at = time.time()
        for chunk in chunks:
            if chunk.lines or chunk.too_long:
                counts = self.stats.source(chunk.source)
                counts.lines += len(chunk.lines) + len(chunk.too_long)
                counts.last_line_at = read_at

        events = self._dedupe(events)
        if isinstance(self.clock, EventClock):
            for event in events:
                self.clock.advance(event.ts)
        batch = self.pipeline.run(events, self.clock.now())
        if self.trim is not None:
            self.trim(batch)
        for watch in self.batch_watchers:
            watch(events, batch.now, batch)
        marks = [(c.read_at, len(c.lines)) for c in chunks if c.lines]
        self.flush()
        checkpoints = list(positions.values()) if self.checkpoint else []
        if self._writes is None:
            self._commit(batch, quarantined, checkpoints, marks)
            return batch
        self._inflight_ids = {e.event_id for e in events}
        self._pending = self._writes.submit(self._commit, batch, quarantined, checkpoints, marks)
        return batch

    def _admit(self, verdicts: Sequence[Verdict], events: list[Event],
               quarantined: list[Quarantined]) -> None:
        for event, raw, rejection in verdicts:
            if rejection is None:
                events.append(event)
            else:
                quarantined.append(Quarantined(event.source, event.source_offset, rejection.reason,
                                               rejection.detail, raw[:self.quarantine_head],
                                               len(raw)))

    def _dedupe(self, events: list[Event]) -> list[Event]:
        seen: set[str] = set()
        unique = []
        for event in events:
            if event.event_id not in seen:
                seen.add(event.event_id)
                unique.append(event)
        if unique:
            known = self.storage.call(self.writer.known_event_ids,
                                      [e.event_id for e in unique])
            known |= self._inflight_ids.intersection(seen)
            if known:
                unique = [e for e in unique if e.event_id not in known]
        self.stats.duplicates += len(events) - len(unique)
        return unique

    def _commit(
        self,
        batch: Batch,
        quarantined: list[Quarantined],
        positions: list[SourcePosition],
        marks: Sequence[tuple[float, int]] = (),
    ) -> None:
        events, assessments, findings = batch.events, batch.assessments, batch.findings
        self.storage.call(self.writer.write, events=events, quarantined=quarantined,
                          assessments=assessments, positions=positions, now=batch.now,
                          upserts=batch.upserts)
        committed = time.perf_counter()
        for read_at, count in marks:
            self.stats.record_latency(committed - read_at, count)
        if marks:
            self.stats.batches += 1
            latency = committed - min(read_at for read_at, _ in marks)
            for observe in self.batch_observers:
                observe(latency)
        for source, stored in Counter(e.source for e in events).items():
            self.stats.source(source).stored += stored
        for item in quarantined:
            reasons = self.stats.source(item.source).quarantined
            reasons[item.reason] = reasons.get(item.reason, 0) + 1
        self.stats.stored += len(events)
        self.stats.quarantined += len(quarantined)
        self.stats.assessed += len(assessments)
        self.stats.findings += len(findings)
        if events:
            self.stats.last_event_ts = events[-1].ts
        for assessment in assessments:
            for reason in assessment.reasons:
                self.stats.reasons[reason.code] = self.stats.reasons.get(reason.code, 0) + 1
        for hook in self.after_commit:
            try:
                hook(events, assessments, findings)
            except Exception as exc:  # a hook must never stop ingestion
                log.error("after-commit hook %s failed: %s\n%s", _name(hook), describe(exc),
                          safe_traceback(exc))


def _name(hook: Callable[..., object]) -> str:
    return getattr(hook, "__qualname__", type(hook).__name__)
