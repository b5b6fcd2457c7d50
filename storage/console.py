"""The console's read queries. Each is indexed and bounded (keyset by id or by an
indexed time column, always with a LIMIT), so the console stays fast on a
database of ten million events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Subquery, and_, cast, func, select

from ottwatch.vocabulary import LEVELS as LEVEL_ORDER
from storage.tables import (
    AlertRow,
    AssessmentRow,
    AuditRow,
    EventRow,
    HeartbeatRow,
    LabelRow,
    ModelRow,
    RingRow,
    TimerRow,
    UserStateRow,
)
from storage.user_index import user_assessment_ids

A = AssessmentRow.__table__
E = EventRow.__table__
ALERTS = AlertRow.__table__
AUDIT = AuditRow.__table__
HEARTBEAT = HeartbeatRow.__table__
LABELS = LabelRow.__table__
MODELS = ModelRow.__table__
RINGS = RingRow.__table__
TIMERS = TimerRow.__table__
USERS = UserStateRow.__table__


@dataclass(frozen=True, slots=True)
class StreamFilter:
    level: str | None = None  # minimum level
    code: str | None = None
    user: str | None = None
    region: str | None = None
    scored: bool = False  # only events some detector gave a score above 0
    since: float | None = None  # event time window [since, until)
    until: float | None = None
    ip: str | None = None  # one address
    members: tuple[str, ...] = ()  # a ring's accounts (`ring:` in the console)

    @property
    def active(self) -> bool:
        return any((self.level, self.code, self.user, self.region, self.since is not None,
                    self.until is not None, self.ip, self.members))

    @property
    def indexed(self) -> bool:
        """An index gives this filter's rows directly (a code's in id order, a user's
        all together): no need to search it window by window."""
        return bool(self.code or self.user)



STREAM_COLUMNS = (A.c.id, A.c.event_id, A.c.user_id, A.c.ts, A.c.score, A.c.level,
                  A.c.decision, A.c.threshold, A.c.top_code, E.c.event_type, E.c.region)


def stream(engine: Engine, *, after_id: int = 0, before_id: int | None = None,
           limit: int = 200, where: StreamFilter = StreamFilter()) -> list[dict[str, Any]]:
    """Newest assessments (with their event's type and region), newest first, with
    after_id < id < before_id."""
    query = select(*STREAM_COLUMNS).join(E, E.c.event_id == A.c.event_id)
    if after_id:
        query = query.where(A.c.id > after_id)
    if before_id is not None:
        query = query.where(A.c.id < before_id)
    if where.level and where.level != "low":
        # level >= medium implies decision != allow, which lets the partial index serve it
        allowed = LEVEL_ORDER[LEVEL_ORDER.index(where.level):]
        query = query.where(A.c.decision != "allow", A.c.level.in_(allowed))
    if where.code:
        query = query.where(A.c.top_code == where.code)
    if where.scored:
        query = query.where(A.c.score > 0)
    if where.region:
        query = query.where(E.c.region == where.region.upper())
    if where.since is not None:
        query = query.where(A.c.ts >= where.since)
    if where.until is not None:
        query = query.where(A.c.ts < where.until)
    if where.ip:
        query = query.where(E.c.ip_address == where.ip)
    if where.members:
        query = query.where(A.c.user_id.in_(where.members))
    query = query.order_by(A.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        if where.user:
            ids = user_assessment_ids(conn, where.user, after_id=after_id, before_id=before_id)
            query = query.join(ids, ids.c.id == A.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


class StreamSearch:
    """The Live stream under one filter, kept current by id watermarks.

    `top` is the newest assessment id looked at, `floor` the oldest (0 once the
    search reached the first row). `refresh` reads only the rows above `top`; while
    fewer than `limit` rows match, `deepen` goes further back in id windows, each a
    bounded query, so a filter that few rows match (a region, which no index serves)
    is searched a window at a time, never in one scan of the whole table."""

    FIRST_WINDOW = 20_000
    MAX_WINDOW = 100_000

    def __init__(self, where: StreamFilter = StreamFilter(), limit: int = 200) -> None:
        self.where = where
        self.limit = limit
        self.rows: list[dict[str, Any]] = []
        self.top = 0
        self.floor: int | None = None  # None: not started
        self.window = self.FIRST_WINDOW

    @property
    def complete(self) -> bool:
        return self.floor is not None and (self.floor == 0 or len(self.rows) >= self.limit)

    @property
    def looked_at(self) -> int:
        """How many ids the search has covered."""
        return self.top - (self.floor or 0)

    def refresh(self, engine: Engine, newest: int) -> bool:
        """Take in the rows added up to `newest`; True if the rows changed."""
        if self.floor is None:
            self.top = self.floor = newest
            return False
        if newest <= self.top:
            return False
        fresh = stream(engine, after_id=self.top, before_id=newest + 1, limit=self.limit,
                       where=self.where)
        self.top = newest
        self.rows = (fresh + self.rows)[:self.limit]
        return bool(fresh)

    def deepen(self, engine: Engine) -> bool:
        """Search one more window of older ids; True if rows were found."""
        assert self.floor is not None
        low = 0 if self.where.indexed else max(0, self.floor - self.window)
        older = stream(engine, after_id=low, before_id=self.floor + 1,
                       limit=self.limit - len(self.rows), where=self.where)
        self.rows += older
        self.floor = low
        self.window = min(self.MAX_WINDOW, self.window * 2)
        return bool(older)


def recent_profile(engine: Engine, sample: int = 5000) -> dict[str, dict[str, int]]:
    """Level distribution and top reasons over the newest `sample` assessments."""
    newest = select(A.c.level, A.c.top_code).order_by(A.c.id.desc()).limit(sample).subquery()
    with engine.connect() as conn:
        levels = dict(conn.execute(
            select(newest.c.level, func.count()).group_by(newest.c.level)).all())
        codes = dict(conn.execute(
            select(newest.c.top_code, func.count()).where(newest.c.top_code.is_not(None))
            .group_by(newest.c.top_code).order_by(func.count().desc()).limit(6)).all())
    return {"levels": levels, "codes": codes}


def rate_series(engine: Engine, *, buckets: int = 30, width: float = 10.0,
                sample: int = 50_000) -> tuple[list[float], list[float]]:
    """Events/s and alerts/min over the last buckets×width seconds of arrival time
    (`ingested_at`: wall time in the agent, event time in a replay), read from the
    newest rows by primary key so the cost does not grow with the database. The
    counting is done in SQL: a handful of rows comes back, not `sample`."""
    span = buckets * width
    arrivals = select(E.c.ingested_at.label("at")).order_by(E.c.id.desc()).limit(sample)
    raised = select(ALERTS.c.created_at.label("at")).order_by(ALERTS.c.id.desc()).limit(
        sample // 10)
    with engine.connect() as conn:
        newest = arrivals.subquery()
        until = conn.execute(select(func.max(newest.c.at))).scalar()
        if until is None:
            return [0.0] * buckets, [0.0] * buckets
        events = _bucket_counts(conn, newest, until - span, until, width)
        alerts = _bucket_counts(conn, raised.subquery(), until - span, until, width)
    return ([n / width for n in _spread(events, buckets)],
            [n * 60 / width for n in _spread(alerts, buckets)])


def _bucket_counts(conn: Connection, times: Subquery, since: float, until: float,
                   width: float) -> dict[int, int]:
    """How many of `times.c.at` fall in each `width`-second bucket of (since, until]."""
    ratio = (times.c.at - since) / width
    bucket = (func.floor(ratio) if conn.dialect.name == "postgresql"
              else cast(ratio, Integer)).label("bucket")
    query = (select(bucket, func.count()).where(times.c.at > since, times.c.at <= until)
             .group_by(bucket))
    return {int(b): n for b, n in conn.execute(query).all()}


def _spread(counts: dict[int, int], buckets: int) -> list[int]:
    """Bucket counts as a list; the newest arrival's own bucket folds into the last."""
    series = [0] * buckets
    for bucket, count in counts.items():
        series[min(buckets - 1, bucket)] += count
    return series


def newest_assessment_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.max(A.c.id))).scalar() or 0


def newest_event_ts(engine: Engine) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(E.c.ts))).scalar()


def event(engine: Engine, event_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(E).where(E.c.event_id == event_id)).mappings().first()
    return dict(row) if row else None


def assessment(engine: Engine, event_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(A).where(A.c.event_id == event_id)).mappings().first()
    return dict(row) if row else None


def event_labels(engine: Engine, event_id: str) -> list[dict[str, Any]]:
    query = (select(LABELS.c.label, LABELS.c.note, LABELS.c.created_by, LABELS.c.created_at)
             .where(LABELS.c.event_id == event_id).order_by(LABELS.c.id))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def user_timeline(engine: Engine, user_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """The user's newest events with their assessments (through `user_index`)."""
    with engine.connect() as conn:
        ids = user_assessment_ids(conn, user_id, newest=limit)
        query = (select(A.c.event_id, A.c.ts, A.c.score, A.c.level, A.c.top_code,
                        E.c.event_type, E.c.device_id, E.c.ip_address, E.c.region,
                        E.c.has_consent, E.c.request_id)
                 .join(ids, ids.c.id == A.c.id)
                 .join(E, E.c.event_id == A.c.event_id)
                 .order_by(A.c.ts.desc(), A.c.id.desc()).limit(limit))
        return [dict(r) for r in conn.execute(query).mappings()]


def user_state(engine: Engine, user_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(USERS).where(USERS.c.user_id == user_id)).mappings().first()
    return dict(row) if row else None


def users_per_segment(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(USERS.c.segment, func.count())
                                 .group_by(USERS.c.segment)).all())


def user_rings(engine: Engine, user_id: str, scan: int = 500) -> list[dict[str, Any]]:
    """Rings the user belongs to, among the `scan` most recently active rings."""
    query = select(RINGS).order_by(RINGS.c.last_seen.desc()).limit(scan)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()
                if user_id in (r["members"] or [])]


def user_timers(engine: Engine, user_id: str) -> list[dict[str, Any]]:
    query = select(TIMERS).where(TIMERS.c.user_id == user_id).order_by(TIMERS.c.deadline)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.limit(50)).mappings()]










def ring_members(engine: Engine, ring_id: str) -> tuple[str, ...]:
    """A ring's accounts (empty: no such ring)."""
    with engine.connect() as conn:
        members = conn.execute(select(RINGS.c.members).where(RINGS.c.ring_id == ring_id)
                               ).scalar()
    return tuple(members or ())


def rings(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    query = select(RINGS).order_by(RINGS.c.risk.desc(), RINGS.c.size.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def open_timers(engine: Engine, limit: int = 500) -> list[dict[str, Any]]:
    query = (select(TIMERS).where(TIMERS.c.state.in_(("open", "warned", "overdue")))
             .order_by(TIMERS.c.deadline).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def regulation_alert_counts(engine: Engine, *, since: float) -> dict[str, int]:
    query = (select(ALERTS.c.regulation, func.count())
             .where(ALERTS.c.created_at >= since, ALERTS.c.regulation.is_not(None))
             .group_by(ALERTS.c.regulation))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def models(engine: Engine) -> list[dict[str, Any]]:
    query = select(*[c for c in MODELS.c if c.name != "blob"]).order_by(
        MODELS.c.name, MODELS.c.version.desc()).limit(100)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def label_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(LABELS.c.label, func.count())
                                 .group_by(LABELS.c.label)).all())


def review_queue(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    """Events waiting for an analyst: decision review or block, not yet labelled,
    oldest first."""
    labelled = select(LABELS.c.event_id).where(LABELS.c.event_id == A.c.event_id).exists()
    query = (select(*STREAM_COLUMNS).join(E, E.c.event_id == A.c.event_id)
             .where(and_(A.c.decision != "allow", A.c.decision.in_(("review", "block")),
                         ~labelled))
             .order_by(A.c.id).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def audit(engine: Engine, limit: int = 300) -> list[dict[str, Any]]:
    query = select(AUDIT).order_by(AUDIT.c.at.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def heartbeat(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(HEARTBEAT).where(HEARTBEAT.c.name == "agent")).mappings().first()
    return dict(row) if row else None


def events_by_region(engine: Engine, *, since: float, until: float) -> dict[str | None, int]:
    """Events per claimed region over a window of event time (the `ts` index)."""
    query = (select(E.c.region, func.count()).where(E.c.ts > since, E.c.ts <= until)
             .group_by(E.c.region))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def consent_coverage(engine: Engine) -> dict[bool | None, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(USERS.c.consent, func.count())
                                 .group_by(USERS.c.consent)).all())
