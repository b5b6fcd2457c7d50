"""Assemble and run the agent from a config: sources, signals, systemd, heartbeat."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import partial

from sqlalchemy import Engine

from agent.commands import CommandPoller, Handler
from agent.loop import Agent, AgentStats
from agent.scheduler import Job, Scheduler
from agent.sdnotify import Notifier
from agent.sources.base import Source
from agent.sources.filetail import FileTailSource
from agent.sources.limits import SocketLimits
from agent.sources.recorded import RecordedSource
from agent.sources.sockets import SocketSource
from agent.training import ProcessTrainer
from ottwatch.alerts.service import find_alert_sink, run_alerting
from ottwatch.alerts.store import prepare_sink
from ottwatch.clock import Clock, EventClock, WallClock
from ottwatch.config import Config, ConfigError, SourcesConfig, load_config, mask_url
from ottwatch.learning.context import context_stages
from ottwatch.learning.runtime import LearningRuntime, learning_stage
from ottwatch.logs import setup_logging
from ottwatch.scoring import AdaptiveScorer
from ottwatch.stages import build_pipeline
from ottwatch.thresholds_learning import relearn
from storage import open_database
from storage.heartbeat import beat
from storage.queries import load_stage_states
from storage.retention import RetentionJob

log = logging.getLogger("ottwatch.agent")

HEARTBEAT_S = 5.0


@dataclass
class LiveSources:
    files: FileTailSource | None
    sockets: SocketSource | None
    stdin: RecordedSource | None

    def all(self) -> list[Source]:
        return [s for s in (self.files, self.sockets, self.stdin) if s is not None]


def socket_limits(sources: SourcesConfig) -> SocketLimits:
    return SocketLimits(**{f.name: getattr(sources, f.name) for f in fields(SocketLimits)})


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
                             limits=socket_limits(sources))
        if (sources.tcp or sources.unix) else None,
        stdin=RecordedSource(["-"], max_line=ingest.max_line_bytes,
                             head=ingest.quarantine_raw_bytes)
        if (sources.stdin or "-" in sources.files) else None,
    )


def make_agent(config: Config, engine: Engine, sources: list[Source], clock: Clock, *,
               scoring: bool = True, checkpoint: bool = True,
               overlap_commits: bool | None = None) -> Agent:
    pipeline = build_pipeline(config, scoring=scoring)
    pipeline.restore(load_stage_states(engine))
    if (alerts := find_alert_sink(pipeline)) is not None:
        prepare_sink(alerts, engine)
    if (stage := learning_stage(pipeline)) is not None:  # score with the active models
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
    )


class AgentService:
    """`ottwatch agent`: runs until SIGTERM/SIGINT, reloads on SIGHUP."""

    def __init__(self, config: Config, config_path: str | None = None,
                 overrides: Callable[[Config], None] = lambda _config: None) -> None:
        """`overrides` re-applies the command line's settings to a reloaded config."""
        self.config = config
        self.config_path = config_path
        self.overrides = overrides
        self.notifier = Notifier()
        self.stop = asyncio.Event()
        self.engine: Engine | None = None
        self.agent: Agent | None = None
        self.sources: LiveSources | None = None
        self._last_beat = 0.0
        self._last_watchdog = 0.0

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload)

    def _on_stop(self, sig: signal.Signals) -> None:
        log.warning("%s: draining and stopping", sig.name)
        self.notifier.stopping()
        self.stop.set()

    def _on_reload(self) -> None:
        try:
            fresh = load_config(self.config_path)
            self.overrides(fresh)
        except ConfigError as exc:
            log.error("SIGHUP: config not reloaded: %s", exc)
            return
        setup_logging(fresh.log.level)
        if self.agent is not None:
            self.agent.batch_size = fresh.storage.batch_size
            self.agent.batch_latency = fresh.storage.batch_latency_ms / 1000
        if self.sources is not None and self.sources.files is not None:
            self.sources.files.set_patterns(fresh.sources.files)
        if fresh.storage.url != self.config.storage.url:
            log.warning("SIGHUP: [storage] url changed; restart the agent to use it")
        self.config = fresh
        log.warning("SIGHUP: configuration reloaded")

    def _on_idle(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_S:
            self._heartbeat()
        if self.notifier.watchdog_interval and now - self._last_watchdog >= \
                self.notifier.watchdog_interval:
            self.notifier.watchdog()
            self._last_watchdog = now

    def _heartbeat(self) -> None:
        assert self.engine is not None and self.agent is not None
        self._last_beat = time.monotonic()
        stats = self.agent.stats
        info: dict[str, object] = {
            "stored": stats.stored, "quarantined": stats.quarantined, "lines": stats.lines,
            "last_event_ts": stats.last_event_ts,
        }
        if self.sources is not None and self.sources.sockets is not None:
            info["sockets"] = asdict(self.sources.sockets.stats)
        beat(self.engine, "agent", pid=os.getpid(), started_at=self.started_at, info=info)

    def _jobs(self) -> Scheduler:
        """Work the agent does beside ingesting, each off the ingest path."""
        assert self.engine is not None and self.agent is not None
        engine, config, agent = self.engine, self.config, self.agent
        scheduler = Scheduler()
        retention = RetentionJob(engine, config.retention, config.storage.retention_days)
        scheduler.add(Job("retention", retention.run, every_s=config.retention.interval_s),
                      run_now=True)
        scorer = agent.pipeline.scorer
        if isinstance(scorer, AdaptiveScorer):
            scheduler.add(Job("thresholds", lambda: relearn(engine, scorer, now=time.time()),
                              daily_at="03:00"))
        handlers = self.command_handlers(scheduler)
        stage = learning_stage(agent.pipeline)
        if stage is not None:
            learning = LearningRuntime(
                engine, stage, context=lambda: context_stages(self.config),
                trainer=ProcessTrainer(engine.url.render_as_string(hide_password=False),
                                       lambda: partial(context_stages, self.config)))
            scheduler.add(Job("learning", learning.tick,
                              every_s=stage.settings.check_interval_s))
            handlers.update(learning.handlers())  # retrain / promote / rollback
        poller = CommandPoller(engine, handlers)
        scheduler.add(Job("commands", poller.run_once, every_s=1.0))
        return scheduler

    def command_handlers(self, scheduler: Scheduler) -> dict[str, Handler]:
        def run_job(args: dict[str, object]) -> dict[str, object]:
            name = str(args.get("job", ""))
            if name not in scheduler.jobs:
                raise ValueError(f"no job {name!r}; jobs: {', '.join(sorted(scheduler.jobs))}")
            result = scheduler.jobs[name].run()
            return {"job": name, "result": result if isinstance(result, dict) else str(result)}

        return {"run-job": run_job}

    async def run(self) -> AgentStats:
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        self.engine = open_database(self.config.storage.url)
        self.sources = build_live_sources(self.config, self.engine)
        if not self.sources.all():
            raise ConfigError("no sources: set [sources] files/tcp/unix/stdin or pass them "
                              "on the command line (see `ottwatch agent --help`)")
        self.started_at = time.time()
        self.agent = make_agent(self.config, self.engine, self.sources.all(), WallClock())
        self.agent.on_idle.append(self._on_idle)
        self.agent.after_commit.append(lambda *_: self._on_idle())
        self.scheduler = self._jobs()
        jobs = asyncio.create_task(self.scheduler.run(self.stop))
        alerts = find_alert_sink(self.agent.pipeline)
        alerting = None if alerts is None else asyncio.create_task(
            run_alerting(self.engine, alerts, self.stop, send=True))
        self._heartbeat()
        self.notifier.ready(f"ingesting into {mask_url(self.config.storage.url)}")
        log.info("agent ready (pid %d)", os.getpid())
        try:
            stats = await self.agent.run(self.stop)
        finally:
            self.stop.set()
            await jobs
            if alerting is not None:
                await alerting
        self._heartbeat()
        log.info("agent stopped: %d stored, %d quarantined", stats.stored, stats.quarantined)
        return stats


async def run_recorded(
    config: Config,
    paths: list[str],
    *,
    scoring: bool = True,
    on_progress: Callable[[Agent, RecordedSource], None] | None = None,
    clock: Clock | None = None,
    send: bool = False,
) -> tuple[Agent, AgentStats]:
    """Replay recorded files through the same loop with an event-time clock."""
    engine = open_database(config.storage.url)
    source = RecordedSource(paths, max_line=config.ingest.max_line_bytes,
                            head=config.ingest.quarantine_raw_bytes)
    agent = make_agent(config, engine, [source], clock or EventClock(), scoring=scoring,
                       checkpoint=False)
    agent.queue_chunks = 4  # a file is always ready: a deep queue would only add latency
    if on_progress is not None:
        agent.after_commit.append(lambda *_: on_progress(agent, source))
    alerts = find_alert_sink(agent.pipeline)
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
