"""The sender: the only part of alerting that does I/O. It takes due rows from the
outbox (`deliveries`), sends them with apprise in worker threads, and records the
outcome: sent, retrying (exponential backoff with jitter, capped) or failed once
the delivery has been retried for `delivery_expiry_s`.

At-least-once, with at most one duplicate per crash per channel: each notification
is marked (sent, or retrying) in its own small transaction as soon as its send
returns, and a channel's next notification waits for that mark; a crash resends only
the notification each channel had in flight. The body carries the alert id for
receivers to dedupe. A locked or full database is waited out before the next send
(`FaultWaiter`), so a notification is never sent twice for want of its mark.
Several due rows for one alert and channel go as one notification of the alert's
current state; rows the storm limit folded (`digest`) go as one digest per channel.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from ottwatch.alerts.channels import Channel, notify_channel
from ottwatch.alerts.content import digest_body, digest_title
from ottwatch.alerts.settings import AlertSettings
from ottwatch.clock import wait_at_most
from ottwatch.vocabulary import LEVEL_RANK
from storage.fault_wait import FaultWaiter, StorageUnavailable
from storage.faults import describe
from storage.tables import AlertRow, DeliveryRow

log = logging.getLogger("ottwatch.alerts")

ALERTS = AlertRow.__table__
DELIVERIES = DeliveryRow.__table__
DUE_STATES = ("pending", "retrying", "digest")
NOTIFY_TYPES = {"low": "info", "medium": "info", "high": "warning", "critical": "failure"}
BATCH_LIMIT = 500
THREADS = 4  # its own threads: a slow channel never takes the agent's worker threads
JITTER = 0.5  # a retry waits between (1 - JITTER) and 1 times its backoff


@dataclass(slots=True)
class Unit:
    """One notification to send: an alert (or a digest) to one channel."""

    channel: str
    digest: bool
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alert_ids(self) -> list[str]:
        return list(dict.fromkeys(r["alert_id"] for r in self.rows))


@dataclass(slots=True)
class Outcome:
    channel: str
    alert_ids: list[str]
    ok: bool
    error: str | None = None
    digest: bool = False


class DeliveryTally(Counter[tuple[str, str]]):
    """Deliveries recorded by this process, by (channel, outcome): `sent`, `retrying`
    (an attempt failed; another follows) or `failed` (given up). Kept by the sender as
    it records, so reading it costs nothing however long the outbox grows."""


class AlertSender:
    def __init__(self, engine: Engine, settings: AlertSettings, channels: Sequence[Channel], *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 batch_limit: int = BATCH_LIMIT, storage: FaultWaiter | None = None,
                 tally: DeliveryTally | None = None) -> None:
        self.engine = engine
        self.tally = tally if tally is not None else DeliveryTally()
        self.settings = settings
        self.channels = {c.name: c for c in channels}
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch_limit = batch_limit
        self._full = False
        self.storage = storage or FaultWaiter(log, pausing="alert delivery paused")
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="ottwatch-alerts")

    async def _off_loop(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(func, *args, **kwargs))

    def close(self) -> None:
        """Let go of the sending threads (one still waiting on a channel finishes alone)."""
        self.storage.halt()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- running -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, drain: bool = False) -> None:
        """Send due deliveries until `stop` is set; with `drain`, one last pass after."""
        halt = asyncio.create_task(stop.wait())
        halt.add_done_callback(lambda _: None if drain else self.storage.halt())
        while not stop.is_set():
            await self._pass_logged()
            if self._full:
                continue
            await wait_at_most(stop, self.settings.sender_poll_s)
        if drain:
            await self._pass_logged()
        halt.cancel()
        self.close()

    async def _pass_logged(self) -> list[Outcome]:
        try:
            return await self.send_due()
        except StorageUnavailable:  # stopping while the database is unavailable
            self._full = False
            return []
        except Exception as exc:  # the database may be busy or gone for a moment
            log.error("alert sender: pass failed: %s", describe(exc))
            self._full = False
            return []

    def send_due_once(self) -> list[Outcome]:
        """One pass, blocking (tests, `ottwatch alerts` commands)."""
        try:
            return asyncio.run(self.send_due())
        except BaseException:  # Ctrl-C: no thread keeps waiting out a storage fault
            self.storage.halt()
            raise

    async def send_due(self) -> list[Outcome]:
        now = self.clock()
        rows = await self._off_loop(self.storage.call, self._due_rows, now)
        self._full = len(rows) >= self.batch_limit
        if not rows:
            return []
        units = self._plan(rows)
        alerts = await self._off_loop(self.storage.call, self._alerts,
                                      {r["alert_id"] for r in rows})
        by_channel: dict[str, list[Unit]] = {}
        for unit in units:
            by_channel.setdefault(unit.channel, []).append(unit)
        results = await asyncio.gather(*(self._send_channel(name, batch, alerts)
                                         for name, batch in by_channel.items()))
        return [outcome for batch in results for outcome in batch]

    # -- planning --------------------------------------------------------------------------
    def _due_rows(self, now: float) -> list[dict[str, Any]]:
        query = (select(DELIVERIES).where(DELIVERIES.c.state.in_(DUE_STATES),
                                          DELIVERIES.c.next_attempt_at <= now)
                 .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
                 .limit(self.batch_limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _plan(self, rows: list[dict[str, Any]]) -> list[Unit]:
        singles: dict[tuple[str, str], Unit] = {}
        digests: dict[str, list[Unit]] = {}
        for row in rows:
            channel = row["channel"]
            if row["state"] == "digest":
                units = digests.setdefault(channel, [Unit(channel, True)])
                if len(units[-1].alert_ids) >= self.settings.digest_max_alerts and \
                        row["alert_id"] not in units[-1].alert_ids:
                    units.append(Unit(channel, True))
                units[-1].rows.append(row)
            else:
                singles.setdefault((channel, row["alert_id"]), Unit(channel, False)
                                   ).rows.append(row)
        return [*singles.values(), *(u for units in digests.values() for u in units)]

    def _alerts(self, alert_ids: set[str]) -> dict[str, dict[str, Any]]:
        query = select(ALERTS.c.alert_id, ALERTS.c.severity, ALERTS.c.title, ALERTS.c.body,
                       ALERTS.c.count, ALERTS.c.status).where(ALERTS.c.alert_id.in_(alert_ids))
        with self.engine.connect() as conn:
            return {r["alert_id"]: dict(r) for r in conn.execute(query).mappings()}

    # -- sending ---------------------------------------------------------------------------
    async def _send_channel(self, name: str, units: list[Unit], alerts: dict[str, dict[str, Any]]
                            ) -> list[Outcome]:
        """One channel's notifications, in order, one at a time, each marked before the
        next is sent."""
        channel = self.channels.get(name)
        outcomes = []
        for unit in units:
            if channel is None:
                outcome = Outcome(name, unit.alert_ids, False,
                                  f"channel {name} is no longer configured", unit.digest)
            else:
                outcome = await self._send_unit(channel, unit, alerts)
            await self._off_loop(self.storage.call, self._record, [(unit, outcome)], self.clock())
            if not outcome.ok:
                log.warning("alert delivery to %s failed: %s", outcome.channel, outcome.error)
            outcomes.append(outcome)
        return outcomes

    async def _send_unit(self, channel: Channel, unit: Unit,
                         alerts: dict[str, dict[str, Any]]) -> Outcome:
        found = [alerts[a] for a in unit.alert_ids if a in alerts]
        if not found:
            return Outcome(channel.name, unit.alert_ids, False, "alert not found", unit.digest)
        fmt = self.settings.body_format
        if unit.digest:
            found.sort(key=lambda a: (-LEVEL_RANK.get(a["severity"], 0), a["alert_id"]))
            severity = found[0]["severity"]
            title, body = digest_title(severity, len(found), channel.name), digest_body(found, fmt)
        else:
            severity, title, body = found[0]["severity"], found[0]["title"], found[0]["body"]
        try:
            ok, error = await asyncio.wait_for(self._off_loop(
                notify_channel, channel, title=title, body=body, body_format=fmt,
                notify_type=NOTIFY_TYPES.get(severity, "info")), self.settings.send_timeout_s)
        except TimeoutError:
            ok, error = False, f"no answer within {self.settings.send_timeout_s:g} s"
        return Outcome(channel.name, unit.alert_ids, ok, error, unit.digest)

    # -- recording -------------------------------------------------------------------------
    def backoff(self, attempts: int) -> float:
        """Seconds before retry number `attempts` (1 = the first retry)."""
        settings = self.settings
        ceiling = min(settings.retry_max_s, settings.retry_initial_s * 2 ** (attempts - 1))
        return ceiling * (1 - JITTER * self.rng.random())

    def _record(self, results: list[tuple[Unit, Outcome]], now: float) -> None:
        changes = []
        states: dict[int, str] = {}
        for unit, outcome in results:
            for row in unit.rows:
                attempts = row["attempts"] + 1
                if outcome.ok:
                    states[row["id"]] = "sent"
                    changes.append({"b_id": row["id"], "b_state": "sent", "b_attempts": attempts,
                                    "b_next": row["next_attempt_at"], "b_expires": row["expires_at"],
                                    "b_error": None, "b_sent": now})
                    continue
                # Expiry counts from the first attempt: a delivery recorded long ago (or in
                # a replay's event time) still gets its full time to retry.
                expires = row["expires_at"] if row["attempts"] else \
                    max(row["expires_at"], now + self.settings.delivery_expiry_s)
                failed = now >= expires
                state = "failed" if failed else ("digest" if unit.digest else "retrying")
                states[row["id"]] = "failed" if failed else "retrying"
                changes.append({"b_id": row["id"], "b_state": state, "b_attempts": attempts,
                                "b_next": now if failed else now + self.backoff(attempts),
                                "b_expires": expires, "b_error": outcome.error, "b_sent": None})
        if not changes:
            return
        stmt = (update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id"))
                .values(state=bindparam("b_state"), attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"), expires_at=bindparam("b_expires"),
                        last_error=bindparam("b_error"), sent_at=bindparam("b_sent")))
        with self.engine.begin() as conn:
            conn.execute(stmt, changes)
        for unit, _ in results:
            for row in unit.rows:
                self.tally[(unit.channel, states[row["id"]])] += 1


def send_direct(channels: Sequence[Channel], settings: AlertSettings, *, title: str, body: str,
                severity: str) -> list[Outcome]:
    """Send one notification to `channels` now, without the outbox (blocking; for when
    the database that holds the outbox is what failed). Nothing is recorded or retried."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(channels)),
                              thread_name_prefix="ottwatch-alerts")
    futures = [pool.submit(notify_channel, channel, title=title, body=body,
                           body_format=settings.body_format,
                           notify_type=NOTIFY_TYPES.get(severity, "info"))
               for channel in channels]
    outcomes = []
    for channel, future in zip(channels, futures, strict=True):
        try:
            ok, error = future.result(timeout=settings.send_timeout_s)
        except TimeoutError:
            ok, error = False, f"no answer within {settings.send_timeout_s:g} s"
        outcomes.append(Outcome(channel.name, [], ok, error))
    pool.shutdown(wait=False)  # a channel that never answers is left to finish alone
    return outcomes
