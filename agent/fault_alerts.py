"""The alert for a storage fault. Its outbox is in the database that failed, so the
notification cannot take the normal path: when the fault starts it goes straight to
the channels routed for a high `storage.fault` (not stored, not retried), and once
the fault clears it is recorded through the alert sink as a low finding (recorded,
and by default routed nowhere: people are not told twice). See
docs/decisions/faults.md."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ottwatch.alerts.sink import AlertSink
from ottwatch.pipeline import Finding
from storage.fault_wait import Outage

log = logging.getLogger("ottwatch.agent")

CODE = "storage.fault"
STARTED_SEVERITY, RECORD_SEVERITY = "high", "low"


class StorageFaultAlerts:
    def __init__(self, sink: AlertSink, *, wall: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.wall = wall
        self._reached: list[str] = []
        self._sending: threading.Thread | None = None

    def _channels(self) -> tuple:
        labels = {"code": CODE, "user_id": None, "ring_id": None, "request_id": None,
                  "regulation": None, "segment": None, "severity": STARTED_SEVERITY}
        return self.sink.router.channels_for(labels, STARTED_SEVERITY)

    def started(self, outage: Outage) -> None:
        """Send the alert from a thread of its own: the wait for the database goes on."""
        channels = self._channels() if self.sink.deliver else ()
        self._reached = []
        if not channels:
            return
        self._sending = threading.Thread(target=self._send, args=(outage, channels),
                                         name="ottwatch-fault-alert", daemon=True)
        self._sending.start()

    def _send(self, outage: Outage, channels: tuple) -> None:
        from ottwatch.alerts.sender import send_direct

        title = f"[{STARTED_SEVERITY.upper()}] {CODE} — storage fault: {outage.summary}"
        body = (f"The ottwatch agent cannot write to its database: {outage.summary} "
                f"({outage.fault.code}). It has paused its sources (the files and socket "
                f"buffers hold the data) and retries until the fault clears, then resumes "
                f"by itself. This alert is not in the database's outbox: it was sent once, "
                f"straight to the channels.")
        for outcome in send_direct(channels, self.sink.settings, title=title, body=body,
                                   severity=STARTED_SEVERITY):
            if outcome.ok:
                self._reached.append(outcome.channel)
            else:
                log.warning("storage fault alert to %s failed: %s", outcome.channel,
                            outcome.error)

    def cleared(self, outage: Outage, duration_s: float) -> None:
        """Record the fault in the alert store, now that it can be written."""
        if self._sending is not None and self._sending.is_alive():
            reached = "its channels (it was still being sent)"
        else:
            reached = ", ".join(self._reached) or "no channel"
        self.sink.report(Finding(
            CODE, RECORD_SEVERITY, self.wall(),
            f"storage fault: {outage.summary}, cleared after {duration_s:.0f} s",
            f"The agent paused its sources and resumed when the fault cleared "
            f"({outage.fault.code}). The alert at the start went to {reached}."))
