"""The alert sink: assessments at or above `min_level` and every finding become
grouped alerts (Alertmanager's group_wait / group_interval / repeat_interval), and
each notification becomes one outbox row per channel, all in the batch's own
transaction. Pure: time is `batch.now` and the items' own times; no I/O.

Episodes: a group's episode starts with its first item and resolves once no item
has arrived for `resolve_after_s`; the next item starts a new episode (a new alert
id). Live (`event_time=False`), items are taken in at `batch.now`, so a backlog of
old events is still grouped and notified. In replay (`event_time=True`) they are
taken in at their own time, in time order, due groups stepped before each item,
so alert rows do not depend on how the input was cut into batches.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ottwatch.alerts.grouping import (
    TOP_REASONS,
    Group,
    Item,
    Labels,
    TopEvent,
    group_key,
)
from ottwatch.alerts.incidents import Incident, IncidentRules, period_label
from ottwatch.alerts.redact import scrub
from ottwatch.alerts.routing import Router
from ottwatch.alerts.rows import STORED_DETAIL_CHARS, alert_row, finding_item, group_from_row
from ottwatch.alerts.settings import AlertSettings
from ottwatch.alerts.silences import Silence
from ottwatch.pipeline import Assessment, Batch, Finding
from ottwatch.vocabulary import LEVEL_RANK

if TYPE_CHECKING:
    from ottwatch.alerts.channels import Channel

SNAPSHOT_VERSION = 1
STORM_WINDOW_S = 60.0
LIVE = ("open", "acked", "silenced")


class AlertSink:
    name: ClassVar[str] = "alerts"

    def __init__(self, settings: AlertSettings | None = None,
                 channels: Sequence[Channel] = (), *, deliver: bool = True,
                 event_time: bool = False) -> None:
        self.settings = settings or AlertSettings()
        self.router = Router(self.settings, channels)
        # False records alerts without writing deliveries (replay without --send).
        self.deliver = deliver
        # True in replay: items count at their own time (see the module's docstring).
        self.event_time = event_time
        self.dirty = False
        self.groups: OrderedDict[str, Group] = OrderedDict()
        self._by_alert: dict[str, str] = {}
        self._due: list[tuple[float, str]] = []
        self._clock = -math.inf
        self._next_delivery_id = 1
        self._storm: dict[str, list[int]] = {}
        self._silences: tuple[Silence, ...] = ()
        self._active: tuple[Silence, ...] = ()
        self._acked: frozenset[str] = frozenset()
        self._acked_applied: frozenset[str] = frozenset()
        self._alerting = frozenset(level for level, rank in LEVEL_RANK.items()
                                   if rank >= LEVEL_RANK[self.settings.min_level])
        self._incidents = IncidentRules(self.settings.incidents, self.settings.min_level)
        self._changed: dict[str, Group] = {}
        self._rows: list[dict[str, Any]] = []
        self._deliveries: list[dict[str, Any]] = []
        self._structural = False
        self._reported: deque[Finding] = deque()

    # -- control from outside (thread-safe: each replaces one reference) -------------
    def set_silences(self, silences: Iterable[Silence | Mapping[str, Any]]) -> None:
        """The silences to honour (rows of `silences` or `Silence`s); expired ones are
        ignored by time, so the whole current list can be passed every time."""
        self._silences = tuple(Silence.coerce(s) for s in silences)

    @property
    def silences(self) -> tuple[Silence, ...]:
        return self._silences

    def set_acked(self, alert_ids: Iterable[str]) -> None:
        """Alert ids acknowledged (from the audit trail); each is applied once."""
        self._acked = frozenset(alert_ids)

    def report(self, finding: Finding) -> None:
        """A finding from outside the pipeline (agent health): alerted with the next batch
        or idle tick, like the stages' findings."""
        self._reported.append(finding)

    def reserve_delivery_ids(self, highest_stored: int) -> None:
        """Outbox ids continue after the highest one in the database."""
        self._next_delivery_id = max(self._next_delivery_id, highest_stored + 1)

    def adopt(self, rows: Iterable[Mapping[str, Any]], notified: set[str], now: float) -> None:
        """Reconcile with the live alert rows of the database after a restart: rows the
        (periodic) snapshot missed become groups again, so their episode continues
        under the same alert id (active as of `now`); `notified` holds alert ids that
        have deliveries."""
        live = {row["alert_id"]: row for row in rows}
        for key, group in list(self.groups.items()):
            row = live.get(group.alert_id)
            if row is None:
                self._forget(key)
                continue
            if row["count"] > group.count:
                group.count = row["count"]
                group.event_ids = list(row["event_ids"] or [])
                group.last_ts = max(group.last_ts, row["updated_at"])
                group.active_at = max(group.active_at, now)
            if group.notified_at is None and group.alert_id in notified:
                group.notified_at, group.notified_rank = now, group.rank
                group.notified_count = group.count
        for row in live.values():
            if row["status"] in LIVE and row["group_key"] not in self.groups:
                self._add_group(group_from_row(row, row["alert_id"] in notified, now))
        self._due = [(g.due, g.key) for g in self.groups.values()]
        heapq.heapify(self._due)

    # -- the sink --------------------------------------------------------------------
    def consume(self, batch: Batch) -> None:
        now = batch.now
        self._apply_silences(now)
        self._apply_acks(now)
        items = self._items(batch)
        if self.event_time:  # step due groups between items, in time order
            for item in items:
                moment = max(self._clock, min(item.ts, now))
                self._run_due(moment, now)
                self._add(item, moment, now)
        else:  # live: every item of the batch counts at `now`
            moment = max(self._clock, now)
            self._run_due(moment, now)
            for item in items:
                self._add(item, moment, now)
        self._run_due(max(self._clock, now), now)
        self._emit(batch, now)

    def _items(self, batch: Batch) -> list[Item]:
        alerting = self._alerting
        incident = self._incidents.incident
        hits = [(i, found) for i, a in enumerate(batch.assessments)
                if (a.reasons or a.level in alerting) and (found := incident(a)) is not None]
        findings = batch.findings
        if self._reported:
            reported = [self._reported.popleft() for _ in range(len(self._reported))]
            findings = [*findings, *reported]
        if not hits and not findings:
            return []
        tokens = {e.payment_fingerprint for e in batch.events if e.payment_fingerprint}
        items = [self._assessment_item(batch, i, found, tokens) for i, found in hits]
        items.extend(finding_item(f, tokens) for f in findings)
        items.sort(key=lambda it: it.ts)
        return items

    def _assessment_item(self, batch: Batch, index: int, incident: Incident,
                         tokens: set[str]) -> Item:
        assessment = batch.assessments[index]
        position = _event_position(batch, index, assessment)
        event = batch.events[position] if position is not None else None
        segments = batch.columns.get("segment")
        segment = segments[position] if position is not None and segments is not None \
            and position < len(segments) else None
        code, subject = incident.code, incident.subject
        ip = event.ip_address if event is not None and subject == "ip" else None
        regulation = next((r.about for r in assessment.reasons if r.code == code), None) \
            if subject == "regulation" else None
        labels: Labels = {"code": code,
                          "user_id": assessment.user_id if subject == "user" or
                          (subject == "ip" and ip is None) else None,
                          "ring_id": None,
                          "request_id": event.request_id if event is not None else None,
                          "regulation": regulation, "segment": segment}
        key = None
        if ip is not None:
            labels["ip"] = ip
            key = f"{code}|ip:{ip}"
        elif subject == "regulation" and incident.digest_until is not None:
            key = f"{code}|{regulation or '-'}|{period_label(incident.digest_until - 1)}"

        def top() -> TopEvent:
            acting = [r for r in assessment.reasons if not r.shadow]
            reasons = [[r.code, round(r.weight, 2),
                        scrub(r.detail, tokens)[:STORED_DETAIL_CHARS]]
                       for r in acting[:TOP_REASONS]]
            return TopEvent(assessment.event_id, assessment.ts, assessment.score,
                            assessment.level, reasons)

        return Item(ts=assessment.ts, severity=incident.severity, labels=labels,
                    event_ids=[assessment.event_id],
                    reason_codes=[r.code for r in assessment.reasons if not r.shadow],
                    score=assessment.score, top=top, key=key,
                    notify_from=incident.digest_until)

    def _add(self, item: Item, moment: float, now: float) -> None:
        settings = self.settings
        key = item.key or group_key(item.labels, settings.group_by)
        group = self.groups.get(key)
        if group is not None and moment - group.active_at >= settings.resolve_after_s:
            self._resolve(group, group.active_at + settings.resolve_after_s)
            group = None
        if group is None:
            group = Group.start(key, item, moment)
            if item.notify_from is not None:  # a digest: notified once its period is over
                group.flush_base = max(moment, item.notify_from - settings.group_wait_s)
            self._add_group(group)
            self._structural = True
            if len(self.groups) > settings.max_groups:
                self._evict(now)
        else:
            self.groups.move_to_end(key)
        group.add(item, moment, top_events=settings.top_events,
                  max_event_ids=settings.max_event_ids)
        self._changed[key] = group
        if group.due > moment:  # else it is stepped at its due time anyway
            self._schedule(group, moment)

    def _add_group(self, group: Group) -> None:
        self.groups[group.key] = group
        self._by_alert[group.alert_id] = group.key

    def _forget(self, key: str) -> None:
        group = self.groups.pop(key)
        self._by_alert.pop(group.alert_id, None)
        self._changed.pop(key, None)

    def _schedule(self, group: Group, when: float) -> None:
        group.due = when
        heapq.heappush(self._due, (when, group.key))

    def _run_due(self, moment: float, now: float) -> None:
        self._clock = max(self._clock, moment)
        due = self._due
        while due and due[0][0] <= moment:
            when, key = heapq.heappop(due)
            group = self.groups.get(key)
            if group is not None and group.due == when:
                self._step(group, when, now, moment)

    def _step(self, group: Group, when: float, now: float, moment: float) -> None:
        settings = self.settings
        resolve_at = group.active_at + settings.resolve_after_s
        if when >= resolve_at:
            self._resolve(group, resolve_at)
            return
        status = self._status(group)
        if status != group.status:
            group.status = status
            group.updated_at = max(group.updated_at, now)
            self._changed[group.key] = group
            self._structural = True
        next_due = resolve_at
        if status == "open":
            notify_at = self._notify_at(group, now)
            if notify_at <= when:
                # Stamped no earlier than the moment being stepped to: when the sink's
                # clock is ahead of `now` (state saved by a run that saw later events,
                # or a clock set back), one notification covers the whole gap.
                self._notify(group, now, notified_at=max(now, moment))
                notify_at = self._notify_at(group, now)
            next_due = min(next_due, max(notify_at, math.nextafter(when, math.inf)))
        self._schedule(group, next_due)

    def _status(self, group: Group) -> str:
        if group.ack_rank is not None:
            if group.rank <= group.ack_rank:
                return "acked"
            group.ack_rank = None  # worse than when it was acked: open again
        if self._active:
            labels = group.match_labels()
            if any(s.matches(labels) for s in self._active):
                return "silenced"
        return "open"

    def _notify_at(self, group: Group, now: float) -> float:
        settings = self.settings
        if group.notified_at is None:
            return group.flush_base + settings.group_wait_s
        if group.rank > group.notified_rank:
            return now
        if group.count > group.notified_count:
            return group.notified_at + settings.group_interval_s
        return group.notified_at + settings.repeat_interval_s

    def _notify(self, group: Group, now: float, *, notified_at: float) -> None:
        group.notified_at = notified_at
        group.notified_count = group.count
        group.notified_rank = group.rank
        self._structural = True
        if not self.deliver:
            return
        labels = {**group.labels, "severity": group.severity}
        expires = now + self.settings.delivery_expiry_s
        for channel in self.router.channels_for(labels, group.severity):
            state, when = self._storm_slot(channel.name, now)
            self._deliveries.append({
                "id": self._next_delivery_id, "alert_id": group.alert_id,
                "channel": channel.name, "state": state, "attempts": 0,
                "next_attempt_at": when, "expires_at": max(expires, when),
                "last_error": None, "created_at": now, "sent_at": None,
            })
            self._next_delivery_id += 1

    def _storm_slot(self, channel: str, now: float) -> tuple[str, float]:
        """`pending` now, or `digest` at the end of the minute once the channel has had
        `storm_limit` notifications in it."""
        limit = self.settings.storm_limit
        if limit == 0:
            return "pending", now
        window = int(now // STORM_WINDOW_S)
        slot = self._storm.get(channel)
        if slot is None or slot[0] != window:
            slot = self._storm[channel] = [window, 0]
        slot[1] += 1
        if slot[1] <= limit:
            return "pending", now
        return "digest", (window + 1) * STORM_WINDOW_S

    def _resolve(self, group: Group, at: float) -> None:
        group.status = "resolved"
        group.updated_at = max(group.updated_at, at)
        self._rows.append(alert_row(group, self.settings.body_format))
        self._forget(group.key)
        self._structural = True

    def _evict(self, now: float) -> None:
        """Over `max_groups`: the least recently active group resolves now (after a last
        notification of what it has not notified yet)."""
        key = next(iter(self.groups))
        group = self.groups[key]
        if self._status(group) == "open" and group.count > group.notified_count:
            self._notify(group, now, notified_at=now)
        self._resolve(group, now)

    # -- control applied at the start of a batch ---------------------------------------
    def _apply_silences(self, now: float) -> None:
        active = tuple(s for s in self._silences if s.active(now))
        if {s.id for s in active} != {s.id for s in self._active}:
            self._active = active
            self._restep_all(now)

    def _apply_acks(self, now: float) -> None:
        acked = self._acked
        if acked is self._acked_applied:
            return
        for alert in acked - self._acked_applied:
            key = self._by_alert.get(alert)
            group = self.groups.get(key) if key is not None else None
            if group is not None and not group.ack_seen:
                group.ack_seen = True
                group.ack_rank = group.rank
                self._schedule(group, max(self._clock, now))
        self._acked_applied = acked

    def _restep_all(self, now: float) -> None:
        moment = max(self._clock, now)
        for group in self.groups.values():
            self._schedule(group, moment)

    # -- output ------------------------------------------------------------------------
    def _emit(self, batch: Batch, now: float) -> None:
        rows = self._rows
        fmt = self.settings.body_format
        rows.extend(alert_row(g, fmt) for g in self._changed.values())
        for row in rows:
            batch.upsert("alerts", row)
        for delivery in self._deliveries:
            batch.upsert("deliveries", delivery)
        if rows or self._structural:
            # The pipeline saves a dirty snapshot at most every `persist_every_s`; after a
            # crash, `adopt` reconciles the groups with the alert rows and the outbox,
            # which commit with every batch.
            self.dirty = True
        self._rows, self._deliveries, self._changed = [], [], {}
        self._structural = False

    # -- state -------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        return orjson.dumps({
            "v": SNAPSHOT_VERSION, "clock": self._clock if math.isfinite(self._clock) else None,
            "next_id": self._next_delivery_id, "storm": self._storm,
            "groups": [g.to_list() for g in self.groups.values()],
        })

    def restore(self, data: bytes) -> None:
        state = orjson.loads(data)
        if state.get("v") != SNAPSHOT_VERSION:
            return
        self._clock = state["clock"] if state["clock"] is not None else -math.inf
        self._next_delivery_id = max(self._next_delivery_id, state["next_id"])
        self._storm = {k: list(v) for k, v in state["storm"].items()}
        self.groups.clear()
        self._by_alert.clear()
        for values in state["groups"]:
            self._add_group(Group.from_list(values))
        self._due = [(g.due, g.key) for g in self.groups.values()]
        heapq.heapify(self._due)


def _event_position(batch: Batch, index: int, assessment: Assessment) -> int | None:
    events = batch.events
    if index < len(events) and events[index].event_id == assessment.event_id:
        return index
    return next((i for i, e in enumerate(events) if e.event_id == assessment.event_id), None)
