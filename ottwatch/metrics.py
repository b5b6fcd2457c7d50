"""The agent's Prometheus metrics, in a registry of its own (never the global one).

Counters of the ingest loop are read from `AgentStats` when scraped, so the loop only
adds to its own integers; figures kept in the database (outbox, timers, models,
alerts) are queried at scrape time too. No label carries a user, an IP address or
any other event data: sources are file paths or `tcp`/`unix`, the rest are codes,
severities, channel and model names from the config and the code."""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from agent.sources.limits import Cut, Refusal, SocketStats
from agent.stats import AgentStats
from ottwatch.pipeline import Pipeline
from storage import health
from storage.faults import describe
from storage.heartbeat import lag_s

log = logging.getLogger("ottwatch.metrics")

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StatsCollector(Collector):
    """The ingest loop's counters, per source, and the lag."""

    def __init__(self, stats: Callable[[], AgentStats], wall: Callable[[], float]) -> None:
        self.stats = stats
        self.wall = wall

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        lines = CounterMetricFamily("ottwatch_lines_read", "Lines read, per source.",
                                    labels=["source"])
        stored = CounterMetricFamily("ottwatch_events_stored", "Events stored, per source.",
                                     labels=["source"])
        quarantined = CounterMetricFamily(
            "ottwatch_quarantined", "Lines quarantined, per source and reason.",
            labels=["source", "reason"])
        last_line = GaugeMetricFamily(
            "ottwatch_source_last_line_timestamp_seconds",
            "When the source last gave a line (wall clock).", labels=["source"])
        for source, counts in list(stats.sources.items()):
            lines.add_metric([source], counts.lines)
            stored.add_metric([source], counts.stored)
            for reason, n in list(counts.quarantined.items()):
                quarantined.add_metric([source, reason], n)
            if counts.last_line_at is not None:
                last_line.add_metric([source], counts.last_line_at)
        yield from (lines, stored, quarantined, last_line)
        yield CounterMetricFamily("ottwatch_duplicates", "Events dropped as already stored.",
                                  value=stats.duplicates)
        lag = GaugeMetricFamily("ottwatch_lag_seconds",
                                "Now minus the newest stored event's time (0 when ahead).")
        if (seconds := lag_s(stats.last_event_ts, self.wall())) is not None:
            lag.add_metric([], seconds)
        yield lag


class DeliveryCollector(Collector):
    """Notifications recorded by the sender since the agent started."""

    def __init__(self, tally: Mapping[tuple[str, str], int]) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "ottwatch_notifications", "Deliveries recorded since the agent started, per "
            "channel and outcome: sent, retrying (an attempt failed) or failed (given up).",
            labels=["channel", "outcome"])
        for (channel, outcome), n in sorted(list(self.tally.items())):
            family.add_metric([channel, outcome], n)
        yield family


class SocketCollector(Collector):
    """The socket source's connections, refusals and cuts (agent/sources/limits.py)."""

    def __init__(self, stats: SocketStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        yield CounterMetricFamily("ottwatch_socket_connections_accepted",
                                  "Socket clients accepted.", value=stats.accepted)
        yield GaugeMetricFamily("ottwatch_socket_connections_active",
                                "Socket clients connected now.", value=stats.active)
        refused = CounterMetricFamily(
            "ottwatch_socket_refused", "Socket clients refused, per reason.", labels=["reason"])
        for reason in Refusal:
            refused.add_metric([reason.value], stats.refused(reason))
        cut = CounterMetricFamily("ottwatch_socket_cut", "Socket clients cut, per reason.",
                                  labels=["reason"])
        for reason in Cut:
            cut.add_metric([reason.value], stats.cut(reason))
        yield from (refused, cut)


class DatabaseCollector(Collector):
    """Figures kept in the database, read at scrape time. A database that cannot be
    read gives `ottwatch_database_up 0` and none of them, not a failed scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._alerts_seen = health.newest_alert_id(engine)  # count alerts from now on
        self._alerts: Tally[tuple[str, str]] = Tally()

    def collect(self) -> Iterator[Metric]:
        try:
            metrics = list(self._read())
        except Exception as exc:
            log.warning("metrics: database not read: %s", describe(exc))
            yield GaugeMetricFamily("ottwatch_database_up", "The database could be read.", 0)
            return
        yield GaugeMetricFamily("ottwatch_database_up", "The database could be read.", 1)
        yield from metrics

    def _read(self) -> Iterator[Metric]:
        engine = self.engine
        yield GaugeMetricFamily("ottwatch_outbox_backlog",
                                "Notifications waiting to be sent (pending, retrying, digest).",
                                health.outbox_backlog(engine))
        timers = GaugeMetricFamily("ottwatch_open_timers",
                                   "Open deadline timers, per regulation.", labels=["regulation"])
        for regulation, n in sorted(health.open_timers(engine).items()):
            timers.add_metric([regulation], n)
        yield timers
        yield self._alert_counts()
        version = GaugeMetricFamily("ottwatch_model_version", "The active version of each model.",
                                    labels=["model"])
        trained = GaugeMetricFamily("ottwatch_model_trained_timestamp_seconds",
                                    "When each model's active version was trained.",
                                    labels=["model"])
        for name, model in sorted(health.active_models(engine).items()):
            version.add_metric([name], model["version"])
            trained.add_metric([name], model["trained_at"])
        yield from (version, trained)
        retrain = GaugeMetricFamily("ottwatch_last_retrain_timestamp_seconds",
                                    "When the newest model version was trained.")
        if (at := health.last_retrain(engine)) is not None:
            retrain.add_metric([], at)
        yield retrain

    def _alert_counts(self) -> Metric:
        for id_, severity, code in health.alerts_after(self.engine, self._alerts_seen):
            self._alerts[(severity, code or "")] += 1
            self._alerts_seen = id_
        alerts = CounterMetricFamily("ottwatch_alerts",
                                     "Alerts opened since the agent started, per severity and "
                                     "first code.", labels=["severity", "code"])
        for (severity, code), n in sorted(self._alerts.items()):
            alerts.add_metric([severity, code], n)
        return alerts


class AgentMetrics:
    def __init__(self, stats: Callable[[], AgentStats], engine: Engine, *,
                 deliveries: Mapping[tuple[str, str], int] | None = None,
                 sockets: SocketStats | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.batch_latency = Histogram(
            "ottwatch_batch_latency_seconds",
            "From a batch's first line read to its commit.", buckets=BATCH_BUCKETS,
            registry=self.registry)
        self.stage_seconds = Counter(
            "ottwatch_stage_seconds", "Time spent in each stage; divided by "
            "ottwatch_stage_events_total, the time per event.", ["stage"], registry=self.registry)
        self.stage_events = Counter("ottwatch_stage_events", "Events through each stage.",
                                    ["stage"], registry=self.registry)
        self.registry.register(StatsCollector(stats, wall))
        self.registry.register(DatabaseCollector(engine))
        if deliveries is not None:
            self.registry.register(DeliveryCollector(deliveries))
        if sockets is not None:
            self.registry.register(SocketCollector(sockets))

    def time_parts(self, pipeline: Pipeline) -> None:
        """Count each stage's, the scorer's and each sink's time and events per batch."""
        pipeline.part_timer = self._part_timed

    def _part_timed(self, name: str, seconds: float, events: int) -> None:
        self.stage_seconds.labels(name).inc(seconds)
        self.stage_events.labels(name).inc(events)
