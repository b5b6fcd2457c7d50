"""User segments from per-user incremental state.

Runs after the detectors: an event whose reasons already include a reason of at
least `violation_min_weight` counts as a violation. Each event gets the segment
of its user at that event (`batch.columns["segment"]`), and every user the batch
touched is upserted once into `user_state`.

Segments, first match wins:
- `suspicious`: `suspicious_violations`+ violations in the rolling window
- `dormant`: silent for `dormant_days`+ before this event
- `inactive`: silent for `inactive_days`+ before this event
- `new`: account younger than `new_age_days` with under `new_max_events` events
- `power`: `power_events`+ events in the window, no violations, older than `power_age_days`
- `normal`: everyone else
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from pydantic import ConfigDict, Field

from ottwatch.detector_mode import DetectorMode
from ottwatch.memory import collection_paused
from ottwatch.pipeline import Batch
from ottwatch.vocabulary import DAY_S

SEGMENTS = ("new", "normal", "power", "inactive", "dormant", "suspicious")
SNAPSHOT_VERSION = 2
CONSENT_EVENTS = {"consent_granted": True, "consent_withdrawn": False}


class SegmentSettings(DetectorMode):
    """`[scoring.segments]` in the config."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(30, ge=1, le=366)
    violation_min_weight: float = Field(50.0, ge=0, le=100)
    power_events: int = Field(1000, ge=1)
    power_age_days: float = Field(180.0, ge=0)
    new_age_days: float = Field(30.0, ge=0)
    new_max_events: int = Field(50, ge=1)
    inactive_days: float = Field(30.0, gt=0)
    dormant_days: float = Field(90.0, gt=0)
    suspicious_violations: int = Field(5, ge=1)
    max_users: int = Field(200_000, ge=1)
    # A full snapshot of the user map is stored at most this often (batch time),
    # not on every batch: `user_state` rows carry each batch's changes exactly.
    snapshot_interval_s: float = Field(60.0, ge=0)
    # A user's `user_state` row is rewritten when its segment or consent changes, else at
    # most this often (event time): counts in the row may lag by this much.
    row_every_s: float = Field(300.0, ge=0)

    @classmethod
    def from_scoring(cls, scoring: Mapping[str, Any]) -> SegmentSettings:
        return cls.model_validate(scoring.get("segments", {}))


class UserState:
    """One user's rolling counts: `days` holds [day, events, violations], oldest first."""

    __slots__ = ("consent", "days", "events_30d", "events_total", "first_seen", "last_seen",
                 "row_at", "row_key", "segment", "silent_s", "violations_30d",
                 "violations_total")

    def __init__(self, ts: float) -> None:
        self.first_seen = ts
        self.last_seen = ts
        self.days: list[list[int]] = []
        self.events_30d = 0
        self.violations_30d = 0
        self.events_total = 0
        self.violations_total = 0
        self.consent: bool | None = None
        self.segment = "new"
        self.silent_s = 0.0
        self.row_at = -math.inf  # when the stored `user_state` row was last written…
        self.row_key: tuple[str, bool | None] | None = None  # …with this segment and consent

    def row_due(self, every_s: float) -> bool:
        """Is the stored row out of date: a new segment or consent, or `every_s` passed?"""
        return (self.row_key != (self.segment, self.consent)
                or self.last_seen - self.row_at >= every_s)

    def count(self, day: int, violation: bool, window_days: int) -> None:
        """Add one event to the day's bucket; the window ends on the newest day seen."""
        days = self.days
        hit = 1 if violation else 0
        if not days or day > days[-1][0]:
            oldest_kept = day - window_days + 1
            drop = 0
            while drop < len(days) and days[drop][0] < oldest_kept:
                self.events_30d -= days[drop][1]
                self.violations_30d -= days[drop][2]
                drop += 1
            if drop:
                del days[:drop]
            days.append([day, 1, hit])
        elif day == days[-1][0]:
            days[-1][1] += 1
            days[-1][2] += hit
        elif day > days[-1][0] - window_days:
            at = bisect_left(days, [day])
            if at < len(days) and days[at][0] == day:
                days[at][1] += 1
                days[at][2] += hit
            else:
                days.insert(at, [day, 1, hit])
        else:
            return  # older than the window: only the totals change
        self.events_30d += 1
        self.violations_30d += hit

    def row(self, user_id: str) -> dict[str, Any]:
        return {
            "user_id": user_id, "segment": self.segment, "first_seen": self.first_seen,
            "last_seen": self.last_seen, "events_30d": self.events_30d,
            "violations_30d": self.violations_30d, "consent": self.consent,
            "state": {"events_total": self.events_total,
                      "violations_total": self.violations_total,
                      "silent_s": self.silent_s},
        }

    def to_list(self, user_id: str) -> list[Any]:
        return [user_id, self.first_seen, self.last_seen, self.events_total,
                self.violations_total, self.consent, self.segment, self.silent_s,
                self.events_30d, self.violations_30d, self.days]

    @classmethod
    def from_list(cls, item: list[Any]) -> tuple[str, UserState]:
        (user_id, first, last, events_total, violations_total, consent, segment, silent,
         events_30d, violations_30d, days) = item
        state = cls(first)
        state.last_seen = last
        state.events_total = events_total
        state.violations_total = violations_total
        state.consent = consent
        state.segment = segment
        state.silent_s = silent
        state.days = days
        state.events_30d = events_30d
        state.violations_30d = violations_30d
        return user_id, state


class SegmentStage:
    name: ClassVar[str] = "segments"

    def __init__(self, settings: SegmentSettings | None = None) -> None:
        self.settings = settings or SegmentSettings()
        self.users: OrderedDict[str, UserState] = OrderedDict()
        self.dirty = False
        self.evicted = 0
        self._unsaved = False
        self._now = -math.inf
        self._saved_at = -math.inf

    def process(self, batch: Batch) -> None:
        s = self.settings
        users = self.users
        window = s.window_days
        min_weight = s.violation_min_weight
        touched: dict[str, UserState] = {}
        segments: list[str] = []
        for event, reasons in zip(batch.events, batch.reasons, strict=True):
            user_id = event.user_id
            state = users.get(user_id)
            if state is None:
                state = users[user_id] = UserState(event.ts)
            else:
                users.move_to_end(user_id)
            violation = False
            for reason in reasons:
                if reason.weight >= min_weight:
                    violation = True
                    break
            self._observe(state, event.ts, event.event_type, event.has_consent, violation,
                          window)
            segments.append(state.segment)
            touched[user_id] = state
        batch.columns["segment"] = segments
        every = s.row_every_s
        for user_id, state in touched.items():
            if state.row_due(every):
                batch.upsert("user_state", state.row(user_id))
                state.row_at, state.row_key = state.last_seen, (state.segment, state.consent)
        while len(users) > s.max_users:
            users.popitem(last=False)
            self.evicted += 1
        if touched:
            self._unsaved = True
        self.tick(batch)

    def tick(self, batch: Batch) -> None:
        """Mark the map for a snapshot once `snapshot_interval_s` has passed since the last."""
        self._now = batch.now
        if self._unsaved and batch.now - self._saved_at >= self.settings.snapshot_interval_s:
            self.dirty = True

    def _observe(self, state: UserState, ts: float, event_type: str,
                 has_consent: bool | None, violation: bool, window: int) -> None:
        s = self.settings
        if state.events_total:
            state.silent_s = ts - state.last_seen if ts > state.last_seen else 0.0
        if ts > state.last_seen:
            state.last_seen = ts
        if ts < state.first_seen:
            state.first_seen = ts
        state.count(int(ts // DAY_S), violation, window)
        state.events_total += 1
        if violation:
            state.violations_total += 1
        consent = CONSENT_EVENTS.get(event_type, has_consent)
        if consent is not None:
            state.consent = consent
        age_days = (ts - state.first_seen) / DAY_S
        silent_days = state.silent_s / DAY_S
        if state.violations_30d >= s.suspicious_violations:
            state.segment = "suspicious"
        elif silent_days >= s.dormant_days:
            state.segment = "dormant"
        elif silent_days >= s.inactive_days:
            state.segment = "inactive"
        elif age_days < s.new_age_days and state.events_30d < s.new_max_events:
            state.segment = "new"
        elif (state.events_30d >= s.power_events and state.violations_30d == 0
              and age_days > s.power_age_days):
            state.segment = "power"
        else:
            state.segment = "normal"

    def segment_of(self, user_id: str) -> str | None:
        state = self.users.get(user_id)
        return state.segment if state is not None else None

    def counts(self) -> dict[str, int]:
        """Users per segment in memory (the users the LRU map still holds)."""
        return segment_counts(state.segment for state in self.users.values())

    def snapshot(self) -> bytes:
        self._saved_at = self._now
        self._unsaved = False
        payload = {"v": SNAPSHOT_VERSION, "saved_at": self._now if math.isfinite(self._now)
                   else None, "users": [state.to_list(uid) for uid, state in self.users.items()]}
        return zlib.compress(orjson.dumps(payload), 1)

    def restore(self, data: bytes) -> None:
        with collection_paused():
            payload = orjson.loads(zlib.decompress(data))
            if payload.get("v") != SNAPSHOT_VERSION:
                raise ValueError(f"segments snapshot version {payload.get('v')!r} is not "
                                 f"{SNAPSHOT_VERSION}")
            self.users = OrderedDict(UserState.from_list(item) for item in payload["users"])
        saved_at = payload.get("saved_at")
        self._saved_at = saved_at if saved_at is not None else -math.inf
        self._unsaved = False
        self.dirty = False




@dataclass(frozen=True, slots=True)
class SegmentStat:
    segment: str
    users: int
    share: float  # 0..1 of all users


def segment_counts(segments: Iterable[str]) -> dict[str, int]:
    """Every known segment with its count (zeros included), then any unknown ones."""
    counted = Counter(segments)
    out = {name: counted.pop(name, 0) for name in SEGMENTS}
    out.update(sorted(counted.items()))
    return out


def segment_stats(counts: Mapping[str, int]) -> list[SegmentStat]:
    """Counts per segment -> rows with shares, in the canonical segment order."""
    full = segment_counts([])
    full.update(counts)
    total = sum(full.values())
    return [SegmentStat(name, n, n / total if total else 0.0) for name, n in full.items()]
