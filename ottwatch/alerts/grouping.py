"""Alert groups: what an alert is about (its labels), its group key, and the state
of one group episode (count, worst events, notification bookkeeping).

The alert id is derived from the group key and the episode's start (event or
finding time), so a replay of the same input yields the same alert ids.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ottwatch.vocabulary import LEVEL_RANK

RING_PREFIX = "ring."
DEADLINE_PREFIX = "regulation."
TOP_REASONS = 3
MAX_NOTES = 3
MAX_CODES = 10

Labels = dict[str, str | None]


def subject_kind(labels: Mapping[str, Any]) -> str | None:
    """Which label an alert is about: `ring_id`, `request_id`, `ip`, `user_id`,
    `regulation` or None."""
    code = labels.get("code") or ""
    if code.startswith(RING_PREFIX) and labels.get("ring_id"):
        return "ring_id"
    if code.startswith(DEADLINE_PREFIX) and labels.get("request_id"):
        return "request_id"
    for kind in ("ip", "user_id", "regulation"):
        if labels.get(kind):
            return kind
    return None


SUBJECT_WORDS = {"ring_id": "ring", "request_id": "request", "user_id": "user", "ip": "address",
                 "regulation": "regulation"}


def subject_text(labels: Mapping[str, Any]) -> str | None:
    kind = subject_kind(labels)
    return f"{SUBJECT_WORDS[kind]} {labels[kind]}" if kind else None


def group_key(labels: Mapping[str, Any], group_by: Sequence[str]) -> str:
    """`code|user` by default; `code|ring` for ring codes, `code|request` for deadlines."""
    code = labels.get("code") or "-"
    kind = subject_kind(labels)
    if kind in ("ring_id", "request_id"):
        return f"{code}|{labels[kind]}"
    return "|".join(str(labels.get(name) or "-") for name in group_by)


def alert_id(key: str, started: float) -> str:
    return "al-" + hashlib.sha256(f"{key}|{started:.6f}".encode()).hexdigest()[:16]


@dataclass(slots=True)
class TopEvent:
    event_id: str
    ts: float
    score: float
    level: str
    reasons: list[list[Any]]  # [code, weight, detail], detail scrubbed
    rendered: tuple[str, str] | None = None  # (format, line): not in the snapshot

    def rank_key(self) -> tuple[float, float, str]:
        return (-self.score, self.ts, self.event_id)


@dataclass(slots=True)
class Note:
    """A finding's words, scrubbed."""

    ts: float
    severity: str
    title: str
    detail: str


@dataclass(slots=True)
class Item:
    """One alerting assessment or finding, ready to join its group."""

    ts: float
    severity: str
    labels: Labels
    event_ids: list[str]
    reason_codes: list[str]
    score: float | None = None
    # Builds the event's scrubbed entry, only if it makes the group's worst events.
    top: Callable[[], TopEvent] | None = None
    note: Note | None = None
    key: str | None = None  # the group, when the incident rules chose it
    notify_from: float | None = None  # a digest's first notification (its period's end)


@dataclass(slots=True)
class Group:
    key: str
    alert_id: str
    labels: Labels
    started: float
    flush_base: float  # when group_wait starts counting (never after the batch's now)
    last_ts: float  # the newest item's own time
    active_at: float  # when the newest item was taken in: quiet since then resolves
    severity: str
    updated_at: float
    count: int = 0
    event_ids: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    top: list[TopEvent] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    status: str = "open"
    ack_rank: int | None = None  # the severity it was acked at; worse reopens it
    ack_seen: bool = False
    notified_at: float | None = None
    notified_count: int = 0
    notified_rank: int = -1
    due: float = math.inf  # the next time it needs a look (always in the sink's heap)

    @classmethod
    def start(cls, key: str, item: Item, moment: float) -> Group:
        """A new episode (empty: `add` the item); group_wait counts from `moment`."""
        return cls(key=key, alert_id=alert_id(key, item.ts), labels=dict(item.labels),
                   started=item.ts, flush_base=moment, last_ts=item.ts, active_at=moment,
                   severity=item.severity, updated_at=item.ts)

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.severity]

    @property
    def code(self) -> str:
        return self.labels.get("code") or "-"

    def add(self, item: Item, moment: float, *, top_events: int, max_event_ids: int) -> None:
        self.count += 1
        self.last_ts = max(self.last_ts, item.ts)
        self.active_at = max(self.active_at, moment)
        self.updated_at = max(self.updated_at, item.ts)
        if LEVEL_RANK[item.severity] > self.rank:
            self.severity = item.severity
        for name, value in item.labels.items():
            if value is not None and (name == "segment" or self.labels.get(name) is None):
                self.labels[name] = value
        room = max_event_ids - len(self.event_ids)
        if room > 0:
            self.event_ids.extend(item.event_ids[:room])
        for code in item.reason_codes:
            if code in self.codes or len(self.codes) < MAX_CODES:
                self.codes[code] = self.codes.get(code, 0) + 1
        if item.top is not None and item.score is not None:
            self._rank_top(item, item.score, top_events)
        if item.note is not None:
            self.notes.append(item.note)
            del self.notes[:-MAX_NOTES]

    def _rank_top(self, item: Item, score: float, limit: int) -> None:
        top = self.top
        if len(top) >= limit and (-score, item.ts, item.event_ids[0]) >= top[-1].rank_key():
            return
        assert item.top is not None
        top.append(item.top())
        top.sort(key=TopEvent.rank_key)
        del top[limit:]

    def match_labels(self) -> dict[str, Any]:
        """What silences match on."""
        return {**self.labels, "severity": self.severity, "alert_id": self.alert_id,
                "group_key": self.key}

    def codes_list(self) -> list[str]:
        ordered = sorted(self.codes.items(), key=lambda kv: (-kv[1], kv[0]))
        head = [self.code]
        return head + [c for c, _ in ordered if c != self.code][: MAX_CODES - 1]

    # -- snapshot ---------------------------------------------------------------------
    def to_list(self) -> list[Any]:
        return [self.key, self.alert_id, self.labels, self.started, self.flush_base,
                self.last_ts, self.active_at, self.severity, self.updated_at, self.count, self.event_ids,
                self.codes, [[t.event_id, t.ts, t.score, t.level, t.reasons] for t in self.top],
                [[n.ts, n.severity, n.title, n.detail] for n in self.notes], self.status,
                self.ack_rank, self.ack_seen, self.notified_at, self.notified_count,
                self.notified_rank, self.due]

    @classmethod
    def from_list(cls, values: list[Any]) -> Group:
        (key, alert, labels, started, flush_base, last_ts, active_at, severity, updated_at, count,
         event_ids, codes, top, notes, status, ack_rank, ack_seen, notified_at, notified_count,
         notified_rank, due) = values
        return cls(key=key, alert_id=alert, labels=labels, started=started,
                   flush_base=flush_base, last_ts=last_ts, active_at=active_at,
                   severity=severity,
                   updated_at=updated_at, count=count, event_ids=event_ids, codes=codes,
                   top=[TopEvent(*t) for t in top], notes=[Note(*n) for n in notes],
                   status=status, ack_rank=ack_rank, ack_seen=ack_seen,
                   notified_at=notified_at, notified_count=notified_count,
                   notified_rank=notified_rank, due=math.inf if due is None else due)
