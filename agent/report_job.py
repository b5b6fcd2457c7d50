"""`[reports] schedule`: the agent writes the configured reports of the period that
just ended into the reports folder (readable by the owner only) and sends each through
the alert channels with the file attached."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ottwatch.alerts.channels import Channel, notify_channel
from ottwatch.learning.schedule import CronSchedule
from ottwatch.reports.files import default_folder, write_report
from ottwatch.reports.gather import period_report
from ottwatch.reports.render import render, title_of
from ottwatch.reports.settings import ReportSettings
from storage.engine import sqlite_path

log = logging.getLogger("ottwatch.reports")


def reports_folder(settings: ReportSettings, database_url: str) -> Path:
    if settings.folder:
        return Path(settings.folder)
    path = sqlite_path(database_url)
    return default_folder(str(path) if path is not None else None)


class ReportJob:
    def __init__(self, engine: Engine, config: Any, channels: Sequence[Channel], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.config = config
        self.settings: ReportSettings = config.reports
        self.channels = [c for c in channels
                         if not self.settings.tags or c.tags & set(self.settings.tags)]
        self.clock = clock
        self.folder = reports_folder(self.settings, config.storage.url)
        self.schedule = CronSchedule.parse(self.settings.schedule)
        self.next_at = self.schedule.next_after(clock(), self.settings.timezone)

    def run_if_due(self) -> list[dict[str, Any]] | None:
        now = self.clock()
        if now < self.next_at:
            return None
        self.next_at = self.schedule.next_after(now, self.settings.timezone)
        return self.run(now)

    def run(self, now: float | None = None) -> list[dict[str, Any]]:
        """Write and send every configured report of the period up to `now`."""
        now = self.clock() if now is None else now
        since = now - self.settings.period_s
        done = []
        for kind in self.settings.kinds:
            report = period_report(kind, self.engine, self.config, since, now)
            path = write_report(self.folder, kind, now, self.settings.format,
                                render(report, self.settings.format, written=now))
            sent = self._send(title_of(report), path, since, now) if self.settings.send else []
            log.info("report %s written to %s%s", kind, path,
                     f", sent to {len(sent)} channel(s)" if sent else "")
            done.append({"kind": kind, "path": str(path), "sent": sent})
        return done

    def _send(self, title: str, path: Path, since: float, until: float) -> list[str]:
        def day(ts: float) -> str:
            return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ")

        body = f"{title}, {day(since)} to {day(until)}: attached ({path.name})."
        sent = []
        for channel in self.channels:
            ok, error = notify_channel(channel, title=f"ottwatch: {title}", body=body,
                                       body_format="text", attach=str(path))
            if ok:
                sent.append(channel.name)
            else:
                log.warning("report %s not sent to %s: %s", path.name, channel.name, error)
        return sent
