"""Recorded files replayed through the agent's own loop on an event-time clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from agent.assembly import make_agent
from agent.loop import AfterCommit, Agent
from agent.replay_scope import ReplayScope
from agent.sources.recorded import RecordedSource
from agent.stats import AgentStats
from ottwatch.alerts.service import run_alerting
from ottwatch.clock import Clock, EventClock
from ottwatch.config import Config, ConfigError
from storage import open_database

if TYPE_CHECKING:
    from agent.compare import SecondOpinion


async def run_recorded(
    config: Config,
    paths: list[str],
    *,
    scoring: bool = True,
    on_progress: Callable[[Agent, RecordedSource], None] | None = None,
    clock: Clock | None = None,
    send: bool = False,
    scope: ReplayScope | None = None,
    after_commit: Sequence[AfterCommit] = (),
    compare: SecondOpinion | None = None,
) -> tuple[Agent, AgentStats]:
    """Replay recorded files through the same loop with an event-time clock; with a
    `scope`, from its warm-up start to its window's end, storing only what it keeps."""
    engine = open_database(config.storage.url)
    bounded = scope is not None and scope.window.bounded
    source = RecordedSource(paths, max_line=config.ingest.max_line_bytes,
                            head=config.ingest.quarantine_raw_bytes,
                            start_ts=scope.warm_from if bounded and scope else None,
                            stop_ts=scope.window.until if bounded and scope else None)
    agent = make_agent(config, engine, [source], clock or EventClock(), scoring=scoring,
                       checkpoint=False)
    if scope is not None:
        agent.trim = scope.trim
        if scope.ring_id is not None:
            rings, ring_id = agent.pipeline.handles.rings, scope.ring_id
            if rings is None:
                raise ConfigError("--ring needs the ring stage (it is off in this config)")
            scope.ring_members = lambda: rings.members(ring_id)
    agent.after_commit.extend(after_commit)
    if compare is not None:
        agent.batch_watchers.append(compare.watch)
    agent.queue_chunks = 4  # a file is always ready: a deep queue would only add latency
    if on_progress is not None:
        agent.after_commit.append(lambda *_: on_progress(agent, source))
    alerts = agent.pipeline.handles.alerts
    if alerts is not None:
        alerts.event_time = True  # items count at their own time: deterministic replay
        alerts.deliver = send  # without --send: alerts recorded, no outbox rows
    alerts_stop = asyncio.Event()
    alerting = asyncio.create_task(run_alerting(engine, alerts, alerts_stop, send=True,
                                                drain=True)) if alerts and send else None
    try:
        stats = await agent.run()
    finally:
        alerts_stop.set()
        if alerting is not None:
            await alerting
    engine.dispose()
    return agent, stats
