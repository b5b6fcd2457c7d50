"""Self-alerts: the agent tells the same channels as its detections when it is not
well. A source silent for longer than `[metrics] source_silent_s`, an outbox backlog
above `[metrics] outbox_backlog`, a retrain that failed: each becomes a Finding
through the alert sink once per episode (when the condition starts; not again until
it has ended and come back)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.stats import SourceCounts
from ottwatch.alerts.sink import AlertSink
from ottwatch.config import MetricsConfig
from ottwatch.pipeline import Finding
from storage.faults import describe

log = logging.getLogger("ottwatch.agent")

SOURCE_SILENT, OUTBOX_BACKLOG, RETRAIN_FAILED = (
    "agent.source_silent", "agent.outbox_backlog", "agent.retrain_failed")
EVERY_SOURCE = "every source"
SEVERITY = {SOURCE_SILENT: "high", OUTBOX_BACKLOG: "high", RETRAIN_FAILED: "medium"}


class HealthAlerts:
    def __init__(self, sink: AlertSink, settings: Callable[[], MetricsConfig], *,
                 wall: Callable[[], float] = time.time) -> None:
        """`settings()` gives the `[metrics]` section in effect (a SIGHUP may change it)."""
        self.sink = sink
        self.settings = settings
        self.wall = wall
        self._firing: set[str] = set()

    def _start(self, key: str, finding: Callable[[], Finding]) -> None:
        if key not in self._firing:
            self._firing.add(key)
            self.sink.report(finding())

    def _end(self, key: str) -> None:
        self._firing.discard(key)

    def check_sources(self, sources: Mapping[str, SourceCounts], started_at: float) -> None:
        """Each source that gave lines, by its last line; before any did, every source
        together, from the agent's start."""
        limit = self.settings().source_silent_s
        if not limit:
            return
        now = self.wall()
        last_lines = {name: counts.last_line_at or started_at
                      for name, counts in list(sources.items())} or {EVERY_SOURCE: started_at}
        for name, last in last_lines.items():
            key, silent_s = f"{SOURCE_SILENT}:{name}", now - last
            if silent_s <= limit:
                self._end(key)
                continue
            self._start(key, lambda name=name, silent_s=silent_s: Finding(
                SOURCE_SILENT, SEVERITY[SOURCE_SILENT], now,
                f"source silent: {name} gave no line for {silent_s:.0f} s",
                f"No line from {name} for {silent_s:.0f} s (the limit is [metrics] "
                f"source_silent_s = {limit:g}). The agent is running; check "
                f"what writes to this source."))

    def check_backlog(self, backlog: int) -> None:
        limit = self.settings().outbox_backlog
        if not limit:
            return
        if backlog <= limit:
            self._end(OUTBOX_BACKLOG)
            return
        self._start(OUTBOX_BACKLOG, lambda: Finding(
            OUTBOX_BACKLOG, SEVERITY[OUTBOX_BACKLOG], self.wall(),
            f"outbox backlog: {backlog} notifications waiting",
            f"{backlog} notifications wait to be sent (the limit is [metrics] outbox_backlog "
            f"= {limit}): a channel fails or is slow; `ottwatch alerts` shows "
            f"the deliveries and their last errors."))

    def retrain_failed(self, error: str) -> None:
        self._start(RETRAIN_FAILED, lambda: Finding(
            RETRAIN_FAILED, SEVERITY[RETRAIN_FAILED], self.wall(), "retrain failed",
            f"Retraining the models failed: {error}. The active versions keep scoring."))

    def retrain_succeeded(self) -> None:
        self._end(RETRAIN_FAILED)


class WatchedTrainer:
    """A trainer whose failures (and recoveries) `HealthAlerts` hears of; the error
    still reaches the caller (the learning job or the command that asked)."""

    def __init__(self, trainer: Callable[..., list[dict[str, Any]]], alerts: HealthAlerts
                 ) -> None:
        self.trainer = trainer
        self.alerts = alerts

    def __call__(self, names: Sequence[str], **kwargs: Any) -> list[dict[str, Any]]:
        try:
            results = self.trainer(names, **kwargs)
        except Exception as exc:
            self.alerts.retrain_failed(describe(exc))
            raise
        self.alerts.retrain_succeeded()
        return results
