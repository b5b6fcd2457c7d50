"""Assemble and run the agent from a config: sources, signals, systemd, heartbeat."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from agent.assembly import LiveSources, build_live_sources, make_agent
from agent.control import ControlHandler, ControlPoller
from agent.fault_alerts import StorageFaultAlerts
from agent.health_alerts import HealthAlerts, WatchedTrainer
from agent.loop import PAUSED, Agent
from agent.scheduler import Job, Scheduler
from agent.sdnotify import Notifier
from agent.stats import AgentStats
from agent.training import ProcessTrainer
from ottwatch.alerts.service import run_alerting
from ottwatch.clock import WallClock, wait_at_most
from ottwatch.config import Config, ConfigError, load_config, mask_url
from ottwatch.learning.context import context_stages
from ottwatch.learning.runtime import LearningRuntime
from ottwatch.learning.thresholds import relearn
from ottwatch.logs import setup_logging
from ottwatch.regulations.retention_regions import region_codes
from storage import open_database
from storage.engine import DatabaseUnusable
from storage.fault_wait import FaultWaiter, Outage, StorageUnavailable
from storage.faults import classify, describe, safe_traceback
from storage.health import outbox_backlog
from storage.heartbeat import RUNNING, STOPPED, beat
from storage.retention import RetentionJob

if TYPE_CHECKING:
    from agent.metrics_server import MetricsServer
    from ottwatch.alerts.sender import DeliveryTally

log = logging.getLogger("ottwatch.agent")

WATCHDOG_CHECK_S = 1.0


class JobFailed(Exception):
    """A job's error, told without its message (which may quote event data)."""


class AgentService:
    """`ottwatch agent`: runs until SIGTERM/SIGINT, reloads on SIGHUP."""

    def __init__(self, config: Config, config_path: str | None = None,
                 overrides: Callable[[Config], None] = lambda _config: None) -> None:
        """`overrides` re-applies the command line's settings to a reloaded config."""
        self.config = config
        self.config_path = config_path
        self.overrides = overrides
        self.notifier = Notifier()
        self.storage = FaultWaiter(log, pausing=PAUSED)
        self.storage.on_start.append(self._storage_fault)
        self.storage.on_clear.append(self._storage_cleared)
        self.stop = asyncio.Event()
        self.engine: Engine | None = None
        self.agent: Agent | None = None
        self.sources: LiveSources | None = None
        self._last_beat = 0.0
        self.metrics_server: MetricsServer | None = None
        self.deliveries: DeliveryTally | None = None
        self.health_alerts: HealthAlerts | None = None
        self._last_watchdog = 0.0

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload)

    def _on_stop(self, sig: signal.Signals) -> None:
        log.warning("%s: draining and stopping", sig.name)
        self.notifier.stopping()
        self.stop.set()
        self.storage.halt()

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
        if fresh.metrics.listen != self.config.metrics.listen:
            log.warning("SIGHUP: [metrics] listen changed; restart the agent to use it")
        self.config = fresh
        log.warning("SIGHUP: configuration reloaded")

    def _on_idle(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= self.config.metrics.heartbeat_s:
            self._heartbeat()
            self._watch_health()
        if self.notifier.watchdog_interval and now - self._last_watchdog >= \
                self.notifier.watchdog_interval:
            self.notifier.watchdog()
            self._last_watchdog = now

    def _heartbeat(self, state: str = RUNNING) -> None:
        assert self.engine is not None and self.agent is not None
        self._last_beat = time.monotonic()
        stats = self.agent.stats
        info: dict[str, object] = {
            "stored": stats.stored, "quarantined": stats.quarantined, "lines": stats.lines,
            "last_event_ts": stats.last_event_ts,
            "sources": {name: {"lines": c.lines, "stored": c.stored,
                               "quarantined": sum(c.quarantined.values()),
                               "last_line_at": c.last_line_at}
                        for name, c in list(stats.sources.items())},
            "errors": self._errors(),
        }
        if self.sources is not None and self.sources.sockets is not None:
            info["sockets"] = asdict(self.sources.sockets.stats)
        self.storage.call(beat, self.engine, "agent", pid=os.getpid(),
                          started_at=self.started_at, info=info, state=state,
                          every_s=self.config.metrics.heartbeat_s)

    def _watch_health(self) -> None:
        """Self-alerts (agent/health_alerts.py), checked with each heartbeat."""
        if self.health_alerts is None or self.storage.outage is not None:
            return
        assert self.engine is not None and self.agent is not None
        self.health_alerts.check_sources(self.agent.stats.sources, self.started_at)
        if self.config.metrics.outbox_backlog:
            self.health_alerts.check_backlog(self.storage.call(outbox_backlog, self.engine))

    def _errors(self) -> dict[str, str]:
        """The last error of each job that failed its last run (messages `describe`d),
        and the storage fault being waited out."""
        scheduler = getattr(self, "scheduler", None)
        errors = {name: job.last_error for name, job in (scheduler.jobs.items() if scheduler
                                                          else ()) if job.last_error}
        if self.storage.outage is not None:
            errors["storage"] = self.storage.outage.summary
        return errors

    def _serve_metrics(self) -> None:
        """`[metrics] listen`: the Prometheus endpoint (docs/decisions/health.md)."""
        assert self.engine is not None and self.agent is not None
        from ottwatch.metrics import AgentMetrics

        agent = self.agent
        sockets = self.sources.sockets if self.sources is not None else None
        metrics = AgentMetrics(lambda: agent.stats, self.engine, deliveries=self.deliveries,
                               sockets=None if sockets is None else sockets.stats)
        metrics.time_parts(agent.pipeline)
        agent.batch_observers.append(metrics.batch_latency.observe)
        if listen := self.config.metrics.listen:
            from agent.metrics_server import MetricsServer

            try:
                self.metrics_server = MetricsServer(metrics.registry, listen)
            except OSError as exc:
                raise ConfigError(f"[metrics] listen = {listen!r}: {exc.strerror}") from None

    # -- storage faults -------------------------------------------------------------
    def _ingesting(self) -> str:
        return f"ingesting into {mask_url(self.config.storage.url)}"

    def _storage_fault(self, outage: Outage) -> None:
        self.notifier.status(f"paused: storage fault ({outage.summary})")

    def _storage_cleared(self, _outage: Outage, _duration_s: float) -> None:
        self.notifier.status(self._ingesting())

    async def _watchdog_while_paused(self) -> None:
        """The ingest loop pets the watchdog as it goes; waiting out a storage fault is
        the agent working as meant, so meanwhile this does it (else systemd would kill
        and restart it into the same fault)."""
        interval = self.notifier.watchdog_interval
        while interval and not self.stop.is_set():
            if self.storage.outage is not None and \
                    time.monotonic() - self._last_watchdog >= interval:
                self.notifier.watchdog()
                self._last_watchdog = time.monotonic()
            await wait_at_most(self.stop, WATCHDOG_CHECK_S)

    def _job(self, run: Callable[[], object]) -> Callable[[], object]:
        """A job skips its turn while the database is at fault, and its errors reach
        the scheduler's log without their messages."""
        storage = self.storage

        def guarded() -> object:
            if storage.outage is not None:
                return "skipped: storage fault"
            try:
                return run()
            except Exception as exc:
                if (fault := classify(exc)) is not None:
                    log.info("a job skipped its turn: storage fault: %s", fault.what)
                    return "skipped: storage fault"
                raise JobFailed(describe(exc)) from None

        return guarded

    def _jobs(self) -> Scheduler:
        """Work the agent does beside ingesting, each off the ingest path."""
        assert self.engine is not None and self.agent is not None
        engine, config, agent = self.engine, self.config, self.agent
        scheduler = Scheduler()
        retention = RetentionJob(engine, config.retention, config.storage.retention_days,
                                 regions_of=region_codes)
        scheduler.add(Job("retention", self._job(retention.run),
                          every_s=config.retention.interval_s), run_now=True)
        scorer = agent.pipeline.handles.scorer
        if scorer is not None:
            scheduler.add(Job("thresholds",
                              self._job(lambda: relearn(engine, scorer, now=time.time())),
                              daily_at="03:00"))
        handlers = self.command_handlers(scheduler)
        stage = agent.pipeline.handles.learning
        if stage is not None:
            learning = LearningRuntime(
                engine, stage, context=lambda: context_stages(self.config),
                trainer=self._watched(ProcessTrainer(
                    engine.url.render_as_string(hide_password=False),
                    lambda: partial(context_stages, self.config))))
            scheduler.add(Job("learning", self._job(learning.tick),
                              every_s=stage.settings.check_interval_s))
            handlers.update(learning.handlers())  # retrain / promote / rollback
        if config.reports.schedule:
            from agent.report_job import ReportJob

            alerts = agent.pipeline.handles.alerts
            reports = ReportJob(engine, config, alerts.router.channels if alerts else [])
            scheduler.add(Job("reports", self._job(reports.run_if_due), every_s=30.0))
            handlers["report"] = lambda _args: {"reports": reports.run()}
        poller = ControlPoller(engine, handlers)
        scheduler.add(Job("commands", self._job(poller.run_once), every_s=1.0))
        return scheduler

    def _watched(self, trainer: ProcessTrainer) -> Callable[..., list[dict[str, Any]]]:
        return trainer if self.health_alerts is None else \
            WatchedTrainer(trainer, self.health_alerts)

    def command_handlers(self, scheduler: Scheduler) -> dict[str, ControlHandler]:
        def run_job(args: dict[str, object]) -> dict[str, object]:
            name = str(args.get("job", ""))
            if name not in scheduler.jobs:
                raise ValueError(f"no job {name!r}; jobs: {', '.join(sorted(scheduler.jobs))}")
            result = scheduler.jobs[name].run()
            return {"job": name, "result": result if isinstance(result, dict) else str(result)}

        return {"run-job": run_job}

    async def run(self) -> AgentStats:
        """Runs the agent; an error ends it with status 1 and a traceback whose messages
        are `describe`d (no event data), a stop during a storage fault too."""
        try:
            return await self._run()
        except (ConfigError, DatabaseUnusable):  # one line each, said by the command
            raise
        except StorageUnavailable as exc:
            log.error("%s; the lines read since the last commit were not stored (files "
                      "resume from their checkpoints at the next start)", exc)
            raise SystemExit(1) from None
        except Exception as exc:
            log.critical("agent failed: %s\n%s", describe(exc), safe_traceback(exc))
            raise SystemExit(1) from None

    def _open(self) -> tuple[Engine, LiveSources, Agent]:
        engine = open_database(self.config.storage.url)
        try:
            sources = build_live_sources(self.config, engine)
            if not sources.all():
                raise ConfigError("no sources: set [sources] files/tcp/unix/stdin or pass "
                                  "them on the command line (see `ottwatch agent --help`)")
            agent = make_agent(self.config, engine, sources.all(), WallClock(),
                               storage=self.storage)
        except BaseException:
            engine.dispose()
            raise
        return engine, sources, agent

    async def _run(self) -> AgentStats:
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        # A database locked or full at start is waited out like one at fault later.
        self.engine, self.sources, self.agent = await asyncio.to_thread(
            self.storage.call, self._open)
        self.started_at = time.time()
        self.agent.on_idle.append(self._on_idle)
        from ottwatch.alerts.sender import DeliveryTally

        self.deliveries = DeliveryTally()
        if self.config.metrics.listen:
            self._serve_metrics()
        self.agent.after_commit.append(lambda *_: self._on_idle())
        alerts = self.agent.pipeline.handles.alerts
        if alerts is not None:
            self.health_alerts = HealthAlerts(alerts, lambda: self.config.metrics)
        self.scheduler = self._jobs()
        jobs = asyncio.create_task(self.scheduler.run(self.stop))
        watchdog = asyncio.create_task(self._watchdog_while_paused())
        if alerts is not None:
            fault_alerts = StorageFaultAlerts(alerts)
            self.storage.on_start.append(fault_alerts.started)
            self.storage.on_clear.append(fault_alerts.cleared)
        alerting = None if alerts is None else asyncio.create_task(
            run_alerting(self.engine, alerts, self.stop, send=True, tally=self.deliveries))
        self._heartbeat()
        running = asyncio.create_task(self.agent.run(self.stop))
        try:
            await self._sources_listening(running)
            self.notifier.ready(self._ingesting())
            log.info("agent ready (pid %d)", os.getpid())
            stats = await running
        finally:
            self.stop.set()
            await jobs
            await watchdog
            if alerting is not None:
                await alerting
            if self.metrics_server is not None:
                self.metrics_server.close()
        self._heartbeat(STOPPED)
        log.info("agent stopped: %d stored, %d quarantined", stats.stored, stats.quarantined)
        return stats


    async def _sources_listening(self, running: asyncio.Task[AgentStats]) -> None:
        """Until every socket listens (READY means clients can connect), or the agent
        ends first (its error is raised where it is awaited)."""
        events = [ready for source in (self.sources.all() if self.sources else [])
                  if isinstance(ready := getattr(source, "ready", None), asyncio.Event)]
        if not events:
            return
        listening = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in events)))
        await asyncio.wait([listening, running], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
