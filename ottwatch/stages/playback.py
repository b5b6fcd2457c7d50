"""Playback concurrency: open streams per account against the plan's limit, and open
streams from places too far apart to be one household.

A `play` with a `session_id` opens a session (or refreshes it), `pause` and `seek`
refresh it, `stop` closes it, and a session idle for longer than the timeout (event
time) expires. A new session from a device that already has one open replaces it (a
device plays one stream at a time; a client that skipped its `stop` is not sharing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import ConfigDict, Field, model_validator

from ottwatch.detector_mode import DetectorMode
from ottwatch.events import Event
from ottwatch.geo.model import GeoHit
from ottwatch.geo.travel import haversine_km
from ottwatch.pipeline import Batch
from ottwatch.stages.lru import LruMap

CODE = "stream.concurrency_exceeded"
REFRESHING_TYPES = frozenset({"pause", "seek"})


class PlaybackSettings(DetectorMode):
    model_config = ConfigDict(extra="forbid")

    plan_limits: dict[str, int] = {"free": 1, "basic": 1, "standard": 2, "premium": 4}
    unknown_plan: str = "standard"
    session_timeout_s: float = Field(4 * 3600.0, gt=0)
    one_session_per_device: bool = True
    max_distance_km: float = Field(500.0, gt=0)
    max_accounts: int = Field(200_000, ge=1)
    max_sessions_per_account: int = Field(32, ge=1)
    over_limit_weight: float = Field(45.0, ge=0, le=100)
    far_apart_weight: float = Field(35.0, ge=0, le=100)
    detail_devices: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _known_fallback(self) -> PlaybackSettings:
        if self.unknown_plan not in self.plan_limits:
            raise ValueError(f"unknown_plan {self.unknown_plan!r} is not in plan_limits")
        if any(limit < 1 for limit in self.plan_limits.values()):
            raise ValueError("plan limits must be at least 1")
        return self


@dataclass(slots=True)
class Session:
    device_id: str | None
    opened: float
    last_seen: float
    lat: float | None = None
    lon: float | None = None
    accuracy_km: float = 0.0
    place: str = ""


@dataclass(slots=True)
class Account:
    sessions: dict[str, Session] = field(default_factory=dict)
    plan: str | None = None


def place_of(hit: GeoHit) -> str:
    if hit.city and hit.country:
        return f"{hit.city}, {hit.country}"
    return hit.city or hit.country or "?"


class PlaybackStage:
    name: ClassVar[str] = "playback"

    def __init__(self, settings: PlaybackSettings | None = None) -> None:
        self.settings = settings or PlaybackSettings()
        self.accounts: LruMap[str, Account] = LruMap(self.settings.max_accounts)

    def process(self, batch: Batch) -> None:
        geo: list[GeoHit | None] | None = batch.columns.get("geo")
        for index, event in enumerate(batch.events):
            event_type = event.event_type
            session_id = event.session_id
            if session_id is None:
                continue
            if event_type == "play":
                hit = geo[index] if geo is not None else None
                self._play(batch, index, event, session_id, hit)
            elif event_type == "stop":
                self._stop(event.user_id, session_id)
            elif event_type in REFRESHING_TYPES:
                self._refresh(event.user_id, session_id, event.ts)

    def open_sessions(self, user_id: str) -> int:
        account = self.accounts.get(user_id)
        return len(account.sessions) if account is not None else 0

    def _stop(self, user_id: str, session_id: str) -> None:
        account = self.accounts.get(user_id)
        if account is not None:
            account.sessions.pop(session_id, None)
            if not account.sessions:
                self.accounts.pop(user_id)

    def _refresh(self, user_id: str, session_id: str, ts: float) -> None:
        account = self.accounts.get(user_id)
        if account is not None:
            session = account.sessions.get(session_id)
            if session is not None:
                session.last_seen = max(session.last_seen, ts)

    def _play(self, batch: Batch, index: int, event: Event, session_id: str,
              hit: GeoHit | None) -> None:
        account = self.accounts.get_or_create(event.user_id, Account)
        if event.subscription_plan:
            account.plan = event.subscription_plan
        self._expire(account, event.ts)
        session = account.sessions.get(session_id)
        if session is not None:
            session.last_seen = max(session.last_seen, event.ts)
            self._locate(session, hit)
            return
        session = self._open(account, session_id, event)
        self._locate(session, hit)
        findings = [f for f in (self._over_limit(account), self._far_apart(account, session)) if f]
        if findings:
            batch.add(index, CODE, max(w for w, _ in findings), "; ".join(d for _, d in findings))

    def _expire(self, account: Account, now: float) -> None:
        horizon = now - self.settings.session_timeout_s
        stale = [sid for sid, s in account.sessions.items() if s.last_seen < horizon]
        for session_id in stale:
            del account.sessions[session_id]

    def _open(self, account: Account, session_id: str, event: Event) -> Session:
        settings = self.settings
        sessions = account.sessions
        device = event.device_id
        if settings.one_session_per_device and device is not None:
            for sid in [sid for sid, s in sessions.items() if s.device_id == device]:
                del sessions[sid]
        while len(sessions) >= settings.max_sessions_per_account:
            oldest = min(sessions, key=lambda sid: sessions[sid].last_seen)
            del sessions[oldest]
        session = sessions[session_id] = Session(device, event.ts, event.ts)
        return session

    @staticmethod
    def _locate(session: Session, hit: GeoHit | None) -> None:
        if hit is not None and hit.lat is not None and hit.lon is not None:
            session.lat, session.lon = hit.lat, hit.lon
            session.accuracy_km = hit.accuracy_km or 0.0
            session.place = place_of(hit)

    def _limit(self, plan: str | None) -> tuple[int, str]:
        limits = self.settings.plan_limits
        if plan is not None and plan in limits:
            return limits[plan], f"a {plan} plan"
        fallback = self.settings.unknown_plan
        named = f"plan {plan!r}" if plan else "no known plan"
        return limits[fallback], f"{named} (treated as {fallback})"

    def _over_limit(self, account: Account) -> tuple[float, str] | None:
        limit, plan = self._limit(account.plan)
        sessions = account.sessions
        if len(sessions) <= limit:
            return None
        shown = self.settings.detail_devices
        devices = [s.device_id or "unknown device" for s in sessions.values()]
        listed = ", ".join(devices[:shown]) + (f" and {len(devices) - shown} more"
                                               if len(devices) > shown else "")
        return (self.settings.over_limit_weight,
                f"{len(sessions)} streams open on {plan} (limit {limit}): {listed}")

    def _far_apart(self, account: Account, new: Session) -> tuple[float, str] | None:
        if new.lat is None or new.lon is None:
            return None
        farthest: tuple[float, Session] | None = None
        for other in account.sessions.values():
            if other is new or other.lat is None or other.lon is None:
                continue
            distance = haversine_km(new.lat, new.lon, other.lat, other.lon)
            # Only what the locations' uncertainty cannot explain counts.
            certain = distance - new.accuracy_km - other.accuracy_km
            if certain > self.settings.max_distance_km and (
                    farthest is None or distance > farthest[0]):
                farthest = (distance, other)
        if farthest is None:
            return None
        distance, other = farthest
        return (self.settings.far_apart_weight,
                f"streams open {distance:,.0f} km apart at once ({new.place} and {other.place})")
