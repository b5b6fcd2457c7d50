"""The compliance stage: consent per user, and regulation deadlines that fire on time.

Pure: all time is event time or `batch.now`. Before each event, timers due by
that event's time (never later than `batch.now`) fire, and `tick` fires those due
by `batch.now`; so a replay gives the same findings however its input is batched.
"""

from __future__ import annotations

import heapq
import logging
from collections import OrderedDict
from typing import Any, ClassVar

import orjson

from ottwatch.events import Event, ts_to_text
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch, Finding
from ottwatch.regulations.consent import GRANTED, STATE_TEXT, WITHDRAWN, UserBook
from ottwatch.regulations.settings import RegulationSettings, settings_from_config
from ottwatch.regulations.table import RegulationTable, load_table, strictest
from ottwatch.regulations.timers import (
    CLOSED,
    CLOSED_BY,
    CLOSED_LATE,
    CODES,
    DEADLINE_NEAR,
    LABELS,
    MISSED,
    OPENED_BY,
    OVERDUE,
    OVERDUE_SEVERITY,
    WARN_SEVERITY,
    WARNED,
    Timer,
    human_duration,
    timer_key,
)

log = logging.getLogger("ottwatch.regulations")

CONSENT_CODE = "consent.missing"
SNAPSHOT_VERSION = 1
RULE_CACHE_LIMIT = 8192

ConsentRule = tuple[tuple[str, ...], tuple[str, ...]]  # (opt-in ids, opt-out ids)


def ip_location(hit: GeoHit | None) -> str | None:
    """`US-CA` when the lookup knows the subdivision, else the country."""
    if hit is None or hit.country is None:
        return None
    return f"{hit.country}-{hit.subdivision}" if hit.subdivision else hit.country


class ComplianceStage:
    name: ClassVar[str] = "compliance"

    def __init__(self, settings: RegulationSettings | None = None,
                 table: RegulationTable | None = None) -> None:
        self.settings = settings or RegulationSettings()
        self.table = table or load_table(self.settings)
        fallback = self.settings.fallback_regulation
        if fallback is not None and fallback not in self.table.by_id:
            raise ValueError(f"fallback_regulation {fallback!r} is not in the regulation table")
        self.processing = frozenset(self.settings.processing_events)
        self.users = UserBook(self.settings.max_users)
        self.timers: dict[str, Timer] = {}
        self.closed: OrderedDict[str, None] = OrderedDict()
        self._due: list[tuple[float, str]] = []  # (when, key); stale entries are skipped
        self._rules: dict[tuple[str | None, str | None], ConsentRule] = {}
        self._terms: dict[tuple[tuple[str, ...], str | None], str] = {}
        self.dirty = False
        self._book_changed = False  # user book changes not yet in a snapshot
        self._saved_at = float("-inf")
        self._events_since_save = 0
        self._now = float("-inf")

    @classmethod
    def from_config(cls, config: Any) -> ComplianceStage:
        return cls(settings_from_config(config))

    # -- the stage contract -------------------------------------------------------------
    def process(self, batch: Batch) -> None:
        now = self._now = batch.now
        self._events_since_save += len(batch.events)
        geo = batch.columns.get("geo")
        processing = self.processing
        due = self._due
        for index, event in enumerate(batch.events):
            moment = event.ts if event.ts < now else now
            if due and due[0][0] <= moment:
                self._fire_due(batch, moment)
            ip = ip_location(geo[index]) if geo is not None else None
            consent, region, ip, changed = self.users.observe(event, ip)
            if changed:
                self._book_changed = True
            kind = event.event_type
            if kind in processing:
                self._check_consent(batch, index, event, consent, region, ip)
            if kind in OPENED_BY:
                self._open(batch, index, event, OPENED_BY[kind], region, ip)
            elif kind in CLOSED_BY:
                self._close(batch, index, event, CLOSED_BY[kind])
            elif event.request_id is not None:
                self._note_overdue(batch, index, event)

    def tick(self, batch: Batch) -> None:
        self._now = batch.now
        if self._due and self._due[0][0] <= batch.now:
            self._fire_due(batch, batch.now)
        if self._book_changed and (
                batch.now - self._saved_at >= self.settings.state_interval_s
                or self._events_since_save >= self.settings.state_every_events):
            self.dirty = True

    def snapshot(self) -> bytes:
        self._book_changed = False
        self._saved_at = self._now
        self._events_since_save = 0
        return orjson.dumps({
            "v": SNAPSHOT_VERSION,
            "users": self.users.dump(),
            "timers": [t.to_list() for t in self.timers.values()],
            "closed": list(self.closed),
        })

    def restore(self, data: bytes) -> None:
        state = orjson.loads(data)
        if state.get("v") != SNAPSHOT_VERSION:
            log.warning("compliance state version %r not understood; starting empty",
                        state.get("v"))
            return
        self.users.load(state["users"])
        self.timers = {t.key: t for t in map(Timer.from_list, state["timers"])}
        self.closed = OrderedDict.fromkeys(state["closed"])
        self._due = [(t.next_due, t.key) for t in self.timers.values() if t.next_due is not None]
        heapq.heapify(self._due)
        self.dirty = self._book_changed = False

    # -- consent ------------------------------------------------------------------------
    def _consent_rule(self, region: str | None, ip: str | None) -> ConsentRule:
        rule = self._rules.get((region, ip))
        if rule is None:
            scope = self.table.scope(region, ip)
            rule = (tuple(r.id for r in scope if r.consent.model == "opt-in"),
                    tuple(r.id for r in scope if r.consent.model == "opt-out"))
            if len(self._rules) >= RULE_CACHE_LIMIT:
                self._rules.clear()
            self._rules[(region, ip)] = rule
        return rule

    def _check_consent(self, batch: Batch, index: int, event: Event, consent: str | None,
                       region: str | None, ip: str | None) -> None:
        if consent == GRANTED or (region is None and ip is None):
            return
        opt_in, opt_out = self._consent_rule(region, ip)
        named = opt_in if consent is not None or self.settings.unknown_consent_is_missing else ()
        if consent == WITHDRAWN and opt_out:
            named = named + opt_out
        if not named:
            return
        # one reason, filed under the first regulation named (alerts digest per regulation)
        batch.add(index, CONSENT_CODE, self.settings.consent_weight,
                  f"{event.event_type} with no consent {self._consent_terms(named, consent)}",
                  about=named[0])

    def _consent_terms(self, ids: tuple[str, ...], consent: str | None) -> str:
        key = (ids, consent)
        text = self._terms.get(key)
        if text is None:
            terms = "; ".join(f"{self.table[i].consent.text} ({self.table[i].consent.source})"
                              for i in ids)
            text = self._terms[key] = f"({STATE_TEXT[consent]}) under {', '.join(ids)}: {terms}"
        return text

    # -- timers -------------------------------------------------------------------------
    def _open(self, batch: Batch, index: int, event: Event, kind: str,
              region: str | None, ip: str | None) -> None:
        key = timer_key(kind, event.request_id or event.event_id)
        existing = self.timers.get(key)
        if existing is not None or key in self.closed:
            if existing is not None and existing.state == OVERDUE:
                self._reason_overdue(batch, index, existing, event.ts)
            return
        scope = self.table.scope(region, ip)
        if not scope:
            fallback = self.settings.fallback_regulation
            if fallback is None:
                return
            scope = (self.table[fallback],)
        regulation, deadline = strictest(scope, kind)
        window = deadline.seconds
        timer = Timer(key=key, kind=kind, request_id=event.request_id or event.event_id,
                      user_id=event.user_id, regulation=regulation.id, opened_at=event.ts,
                      warn_at=event.ts + window * self.settings.warn_fraction,
                      deadline=event.ts + window, event_id=event.event_id,
                      scope=[r.id for r in scope])
        self.timers[key] = timer
        heapq.heappush(self._due, (timer.warn_at, key))
        self._evict_timers()
        self._changed(batch, timer)

    def _close(self, batch: Batch, index: int, event: Event, kind: str) -> None:
        timer = self._timer_closed_by(event, kind)
        if timer is None:
            return
        late = event.ts > timer.deadline
        if late:
            self._reason_overdue(batch, index, timer, event.ts)
        timer.state = CLOSED_LATE if late else CLOSED
        timer.closed_at = event.ts
        del self.timers[timer.key]
        self._remember_closed(timer.key)
        self._changed(batch, timer)

    def _timer_closed_by(self, event: Event, kind: str) -> Timer | None:
        if event.request_id is not None:
            return self.timers.get(timer_key(kind, event.request_id))
        mine = [t for t in self.timers.values() if t.kind == kind and t.user_id == event.user_id]
        return min(mine, key=lambda t: t.opened_at) if mine else None

    def _note_overdue(self, batch: Batch, index: int, event: Event) -> None:
        for kind in CODES:
            timer = self.timers.get(timer_key(kind, event.request_id or ""))
            if timer is not None and timer.state == OVERDUE:
                self._reason_overdue(batch, index, timer, event.ts)

    def _reason_overdue(self, batch: Batch, index: int, timer: Timer, at: float) -> None:
        batch.add(index, CODES[timer.kind], self.settings.overdue_weight,
                  f"{LABELS[timer.kind]} {timer.request_id} is "
                  f"{human_duration(at - timer.deadline)} past its {timer.regulation} deadline "
                  f"({ts_to_text(timer.deadline)})")

    def _fire_due(self, batch: Batch, moment: float) -> None:
        due = self._due
        while due and due[0][0] <= moment:
            when, key = heapq.heappop(due)
            timer = self.timers.get(key)
            if timer is None or timer.next_due != when:
                continue
            if timer.deadline <= moment:
                timer.state = OVERDUE
                batch.findings.append(self._overdue_finding(timer))
            else:
                timer.state = WARNED
                batch.findings.append(self._warning_finding(timer))
                heapq.heappush(due, (timer.deadline, key))
            self._changed(batch, timer)

    def _window_text(self, timer: Timer) -> str:
        regulation = self.table.by_id.get(timer.regulation)
        if regulation is None:  # removed from the table since the timer opened
            return f"{human_duration(timer.deadline - timer.opened_at)} under {timer.regulation}"
        deadline = regulation.deadline(timer.kind)
        default = "; the tool's operational default, not the law's" if deadline.tool_default \
            else ""
        return f"{deadline.figure} under {timer.regulation}: {deadline.law} ({deadline.source}" \
               f"{default})"

    def _detail(self, timer: Timer) -> str:
        return (f"{LABELS[timer.kind]} {timer.request_id} for user {timer.user_id}, opened "
                f"{ts_to_text(timer.opened_at)} by event {timer.event_id}; deadline "
                f"{ts_to_text(timer.deadline)} ({self._window_text(timer)}); in scope: "
                f"{', '.join(timer.scope)}")

    def _warning_finding(self, timer: Timer) -> Finding:
        return Finding(
            code=DEADLINE_NEAR, severity=WARN_SEVERITY, ts=timer.warn_at,
            title=f"{LABELS[timer.kind]} {timer.request_id} due in "
                  f"{human_duration(timer.deadline - timer.warn_at)} ({timer.regulation})",
            detail=self._detail(timer), user_id=timer.user_id, request_id=timer.request_id,
            regulation=timer.regulation, event_ids=[timer.event_id])

    def _overdue_finding(self, timer: Timer) -> Finding:
        window = human_duration(timer.deadline - timer.opened_at)
        return Finding(
            code=CODES[timer.kind], severity=OVERDUE_SEVERITY[timer.kind], ts=timer.deadline,
            title=f"{LABELS[timer.kind]} {timer.request_id} {MISSED[timer.kind]} within "
                  f"{window} ({timer.regulation})",
            detail=self._detail(timer), user_id=timer.user_id, request_id=timer.request_id,
            regulation=timer.regulation, event_ids=[timer.event_id])

    # -- bookkeeping --------------------------------------------------------------------
    def _changed(self, batch: Batch, timer: Timer) -> None:
        batch.upsert("timers", timer.row())
        self.dirty = True

    def _remember_closed(self, key: str) -> None:
        if self.settings.max_closed <= 0:
            return
        self.closed[key] = None
        if len(self.closed) > self.settings.max_closed:
            self.closed.popitem(last=False)

    def _evict_timers(self) -> None:
        """Over the bound, forget overdue timers first (their alert is raised and their
        row stored), oldest first; timers still running are kept."""
        excess = len(self.timers) - self.settings.max_timers
        if excess <= 0:
            return
        overdue = sorted((t for t in self.timers.values() if t.state == OVERDUE),
                         key=lambda t: t.deadline)
        for timer in overdue[:excess]:
            del self.timers[timer.key]
