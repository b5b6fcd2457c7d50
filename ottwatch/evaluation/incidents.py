"""Incidents, deadlines and rings against what the alerts and the ring table say.

An incident is alerted when an alert at medium or above names its user, its address
or a ring holding one of its users, and overlaps it in time (shares an event with it,
or its first and last items bracket part of the incident; a ring may be found any time
after the incident began). Deadline alerts (`regulation.*`) do not count for incidents:
they name a request's user, whatever else that user went through."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ottwatch.evaluation.labels import RequestLabel, Target
from ottwatch.evaluation.metrics import Share
from ottwatch.evaluation.results import Alert
from ottwatch.regulations.timers import CODES, WARN_SEVERITY
from ottwatch.vocabulary import LEVEL_RANK

ALERTING = LEVEL_RANK["medium"]
DEADLINE_PREFIX = "regulation."
FOUND_JACCARD = 0.8  # a farm counts as found when a ring holds it this whole


def _names(alert: Alert, target: Target, rings: Mapping[str, frozenset[str]]) -> bool:
    if alert.ring_id is not None:
        return not rings.get(alert.ring_id, frozenset()).isdisjoint(target.users)
    return alert.user_id in target.users or (alert.ip is not None and alert.ip in target.ips)


def _overlaps(alert: Alert, target: Target) -> bool:
    if not alert.event_ids.isdisjoint(target.event_ids):
        return True
    if target.start is None or target.end is None:
        return True  # a labels file gives no times: naming it is enough
    if alert.ring_id is not None:
        return alert.updated_at >= target.start
    return alert.created_at <= target.end and alert.updated_at >= target.start


def incident_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    return [a for a in alerts if LEVEL_RANK.get(a.severity, -1) >= ALERTING
            and not (a.codes and a.codes[0].startswith(DEADLINE_PREFIX))]


def alerted(target: Target, alerts: Iterable[Alert],
            rings: Mapping[str, frozenset[str]]) -> bool:
    return any(_names(a, target, rings) and _overlaps(a, target) for a in alerts)


@dataclass(frozen=True)
class KindScore:
    kind: str
    share: Share  # alerted of planted
    missed: tuple[str, ...]  # the incidents no alert found


def incident_scores(targets: Iterable[Target], alerts: Iterable[Alert],
                    rings: Mapping[str, frozenset[str]]) -> list[KindScore]:
    candidates = incident_alerts(alerts)
    by_kind: dict[str, list[Target]] = {}
    for target in targets:
        by_kind.setdefault(target.kind, []).append(target)
    out = []
    for kind in sorted(by_kind):
        missed = tuple(t.target_id for t in by_kind[kind] if not alerted(t, candidates, rings))
        planted = len(by_kind[kind])
        out.append(KindScore(kind, Share(planted - len(missed), planted), missed))
    return out


@dataclass(frozen=True)
class TimerScore:
    overdue: Share  # overdue requests alerted as overdue, of those planted
    on_time: int  # requests fulfilled by their deadline
    on_time_called_overdue: tuple[str, ...]
    missed: tuple[str, ...]  # overdue requests with no overdue alert


def timer_scores(requests: Iterable[RequestLabel], alerts: Iterable[Alert],
                 end: float | None) -> TimerScore:
    """An overdue request is alerted by an alert naming it with its kind's overdue code
    above the warning's severity (a warning shares the code and the alert while the
    `regulation.deadline_near` code is not in use). An on-time request is called
    overdue by any alert naming it with an overdue code."""
    warn_rank = LEVEL_RANK[WARN_SEVERITY]
    overdue_codes = frozenset(CODES.values())
    naming: dict[str, list[Alert]] = {}
    for alert in alerts:
        if alert.request_id is not None:
            naming.setdefault(alert.request_id, []).append(alert)
    planted, missed, on_time, called = 0, [], 0, []
    for request in requests:
        found = naming.get(request.request_id, [])
        if request.overdue(end):
            planted += 1
            code = CODES[request.kind]
            if not any(code in a.codes and LEVEL_RANK.get(a.severity, -1) > warn_rank
                       for a in found):
                missed.append(request.request_id)
        elif request.on_time(end):
            on_time += 1
            if any(not overdue_codes.isdisjoint(a.codes) for a in found):
                called.append(request.request_id)
    return TimerScore(Share(planted - len(missed), planted), on_time, tuple(called),
                      tuple(missed))


@dataclass(frozen=True)
class RingScore:
    farms: int
    found: int  # farms a ring holds with Jaccard >= FOUND_JACCARD
    best_jaccard: tuple[float, ...]  # per farm, the best ring's
    rings: int
    unmatched_rings: int  # rings sharing no member with any farm


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def ring_scores(farms: Iterable[Target], rings: Mapping[str, frozenset[str]]) -> RingScore:
    farms = list(farms)
    best = tuple(max((jaccard(f.users, members) for members in rings.values()), default=0.0)
                 for f in farms)
    farm_users = frozenset().union(*(f.users for f in farms)) if farms else frozenset()
    unmatched = sum(1 for members in rings.values() if members.isdisjoint(farm_users))
    return RingScore(len(farms), sum(1 for j in best if j >= FOUND_JACCARD), best,
                     len(rings), unmatched)
