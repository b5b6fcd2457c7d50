"""An agent assembled from a config: its live sources, its pipeline restored from
the database, its loop."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from agent.loop import Agent
from agent.sources.base import Source
from agent.sources.filetail import FileTailSource
from agent.sources.limits import SocketLimits
from agent.sources.recorded import RecordedSource
from agent.sources.sockets import SocketSource
from ottwatch.alerts.store import prepare_sink
from ottwatch.clock import Clock, EventClock
from ottwatch.config import Config
from ottwatch.learning.context import context_stages
from ottwatch.learning.runtime import LearningRuntime
from ottwatch.pipeline_build import build_pipeline
from ottwatch.time_bounds import future_bound
from storage.fault_wait import FaultWaiter
from storage.queries import load_stage_states


@dataclass
class LiveSources:
    files: FileTailSource | None
    sockets: SocketSource | None
    stdin: RecordedSource | None

    def all(self) -> list[Source]:
        return [s for s in (self.files, self.sockets, self.stdin) if s is not None]


def build_live_sources(config: Config, engine: Engine) -> LiveSources:
    from storage.writer import BatchWriter

    positions = BatchWriter(engine).load_positions()
    ingest, sources = config.ingest, config.sources
    files = [p for p in sources.files if p != "-"]
    return LiveSources(
        files=FileTailSource(files, positions, max_line=ingest.max_line_bytes,
                             head=ingest.quarantine_raw_bytes, poll=sources.poll,
                             poll_interval_ms=sources.poll_interval_ms) if files else None,
        sockets=SocketSource(tcp=sources.tcp, unix=sources.unix,
                             max_line=ingest.max_line_bytes, head=ingest.quarantine_raw_bytes,
                             limits=SocketLimits.from_sources(sources))
        if (sources.tcp or sources.unix) else None,
        stdin=RecordedSource(["-"], max_line=ingest.max_line_bytes,
                             head=ingest.quarantine_raw_bytes)
        if (sources.stdin or "-" in sources.files) else None,
    )


def make_agent(config: Config, engine: Engine, sources: list[Source], clock: Clock, *,
               scoring: bool = True, checkpoint: bool = True,
               overlap_commits: bool | None = None, storage: FaultWaiter | None = None) -> Agent:
    pipeline = build_pipeline(config, scoring=scoring)
    pipeline.restore(load_stage_states(engine))
    if (alerts := pipeline.handles.alerts) is not None:
        prepare_sink(alerts, engine)
    if (stage := pipeline.handles.learning) is not None:  # score with the active models
        LearningRuntime(engine, stage, context=lambda: context_stages(config)).load_models()
    return Agent(
        engine,
        pipeline,
        sources,
        clock,
        batch_size=config.storage.batch_size,
        # On event time, batches close by size alone: the same input, the same batches.
        batch_latency=None if isinstance(clock, EventClock)
        else config.storage.batch_latency_ms / 1000,
        max_line=config.ingest.max_line_bytes,
        quarantine_head=config.ingest.quarantine_raw_bytes,
        queue_chunks=config.ingest.queue_chunks,
        checkpoint=checkpoint,
        overlap_commits=overlap_commits,
        time_bound=future_bound(clock, skew_s=config.ingest.max_future_skew_s,
                                confirm_lines=config.ingest.future_confirm_lines),
        storage=storage,
    )
