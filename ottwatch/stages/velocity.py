"""Velocity: bursts and outliers per user and per IP, in event time.

- `auth.failure_burst`: failed logins per user, and per IP across users (credential
  stuffing); a successful login right after a user's burst also carries the reason.
- `velocity.access_spike`: a user's events in the last window far above the user's
  own baseline (an EWMA of the per-window counts of the windows in which it was active).
- `data.bulk_export`: an export far above the user's own exports or far above the
  population's high quantile, never below an absolute floor.
- `account.takeover_pattern`: a new device or country, then within a window a
  password, e-mail or payment change.

All state is bounded: per-user and per-IP maps are LRU-capped, windows hold at most
`max_window_events` entries, known devices and countries per user are capped.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, Field

from ottwatch.events import Event
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch
from ottwatch.stages.lru import LruMap

FAILURE_BURST = "auth.failure_burst"
ACCESS_SPIKE = "velocity.access_spike"
BULK_EXPORT = "data.bulk_export"
TAKEOVER = "account.takeover_pattern"

LOGIN_TYPES = frozenset({"login", "login_failed"})
EXPORT_TYPES = frozenset({"download", "bulk_download", "export", "data_export"})
SENSITIVE_CHANGES = frozenset({"password_change", "email_change", "payment_added"})
AUTH_FAILED = "AUTH_FAILED"

class VelocitySettings(BaseModel):
    max_users: int = Field(200_000, ge=1)
    max_ips: int = Field(200_000, ge=1)
    max_window_events: int = Field(1_000, ge=1)
    # auth.failure_burst
    failure_window_s: float = Field(300.0, gt=0)
    user_failure_threshold: int = Field(5, ge=1)
    ip_failure_threshold: int = Field(20, ge=1)
    ip_distinct_users_threshold: int = Field(10, ge=2)
    user_failure_weight: float = Field(40.0, ge=0, le=100)
    ip_failure_weight: float = Field(50.0, ge=0, le=100)
    # velocity.access_spike
    spike_window_s: float = Field(60.0, gt=0)
    spike_factor: float = Field(5.0, gt=1)
    spike_min_count: int = Field(30, ge=1)
    spike_baseline_alpha: float = Field(0.2, gt=0, le=1)
    spike_baseline_floor: float = Field(2.0, ge=0)
    spike_min_history_windows: int = Field(3, ge=0)
    spike_absolute_count: int = Field(600, ge=0)  # before a baseline exists; 0: never
    spike_weight: float = Field(30.0, ge=0, le=100)
    # data.bulk_export
    export_floor_bytes: int = Field(1_000_000_000, ge=0)
    export_user_factor: float = Field(5.0, gt=1)
    export_user_min_history: int = Field(3, ge=1)
    export_user_alpha: float = Field(0.2, gt=0, le=1)
    export_population_quantile: float = Field(0.99, gt=0, lt=1)
    export_population_factor: float = Field(2.0, ge=1)
    export_population_min_count: int = Field(200, ge=1)
    export_absolute_bytes: int = Field(50_000_000_000, ge=0)  # 0: no absolute limit
    export_weight: float = Field(40.0, ge=0, le=100)
    # account.takeover_pattern
    takeover_window_s: float = Field(3600.0, gt=0)
    takeover_weight: float = Field(55.0, ge=0, le=100)
    max_known_devices: int = Field(32, ge=1)
    max_known_countries: int = Field(16, ge=1)


@dataclass(slots=True)
class UserState:
    failures: deque[float] | None = None
    # tumbling windows of `spike_window_s`, aligned to multiples of it
    window_start: float = -math.inf
    window_count: int = 0
    previous_count: int = 0
    baseline: float = 0.0
    windows_seen: int = 0
    export_mean: float = 0.0
    exports_seen: int = 0
    devices: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    last_region: str | None = None
    novelty_ts: float = -math.inf
    novelty: str = ""


@dataclass(slots=True)
class IpFailures:
    events: deque[tuple[float, str]] = field(default_factory=deque)
    users: dict[str, int] = field(default_factory=dict)

    def add(self, ts: float, user_id: str, capacity: int) -> None:
        if len(self.events) >= capacity:
            self._drop_oldest()
        self.events.append((ts, user_id))
        self.users[user_id] = self.users.get(user_id, 0) + 1

    def expire(self, horizon: float) -> None:
        while self.events and self.events[0][0] < horizon:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, user_id = self.events.popleft()
        left = self.users[user_id] - 1
        if left:
            self.users[user_id] = left
        else:
            del self.users[user_id]


class LogHistogram:
    """A streaming quantile sketch of non-negative sizes: counts in logarithmic buckets
    (`per_octave` per doubling), so a quantile is exact to within one bucket (~9 %)."""

    def __init__(self, per_octave: int = 8, refresh_every: int = 64) -> None:
        self.per_octave = per_octave
        self.counts = [0] * (64 * per_octave + 1)
        self.total = 0
        self.refresh_every = refresh_every
        self._cache: dict[float, float] = {}
        self._since_refresh = 0

    def add(self, size: int) -> None:
        index = 0 if size < 1 else min(len(self.counts) - 1,
                                       1 + int(math.log2(size) * self.per_octave))
        self.counts[index] += 1
        self.total += 1
        self._since_refresh += 1
        if self._since_refresh >= self.refresh_every:
            self._cache.clear()
            self._since_refresh = 0

    def quantile(self, q: float) -> float:
        """The upper edge of the bucket holding the q-quantile (refreshed every few adds)."""
        cached = self._cache.get(q)
        if cached is None:
            cached = self._cache[q] = self._compute(q)
        return cached

    def _compute(self, q: float) -> float:
        target = q * self.total
        running = 0
        for index, count in enumerate(self.counts):
            running += count
            if running >= target and count:
                return 2.0 ** (index / self.per_octave) if index else 1.0
        return 0.0


def is_failed_login(event: Event) -> bool:
    if event.event_type == "login_failed":
        return True
    return (event.event_type == "login" and event.error_code is not None
            and event.error_code.upper() == AUTH_FAILED)


def ip_country(event: Event, hit: GeoHit | None) -> str | None:
    """The IP's country when geo knows it, else the claimed region's (never `EU`)."""
    if hit is not None and hit.country:
        return hit.country
    country = event.country
    return None if country == "EU" else country


def human_bytes(size: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


def human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


class VelocityStage:
    name: ClassVar[str] = "velocity"

    def __init__(self, settings: VelocitySettings | None = None) -> None:
        self.settings = settings or VelocitySettings()
        self.users: LruMap[str, UserState] = LruMap(self.settings.max_users)
        self.ips: LruMap[str, IpFailures] = LruMap(self.settings.max_ips)
        self.export_sizes = LogHistogram()

    def process(self, batch: Batch) -> None:
        geo: list[GeoHit | None] | None = batch.columns.get("geo")
        user_state = self.users.get_or_create
        for index, event in enumerate(batch.events):
            user = user_state(event.user_id, UserState)
            self._access_spike(batch, index, event, user)
            event_type = event.event_type
            if event_type in LOGIN_TYPES:
                self._logins(batch, index, event, user)
            elif event_type in EXPORT_TYPES and event.bytes is not None:
                self._export(batch, index, event.bytes, user)
            self._takeover(batch, index, event, user, geo[index] if geo is not None else None)

    # velocity.access_spike

    def _access_spike(self, batch: Batch, index: int, event: Event, user: UserState) -> None:
        settings = self.settings
        width = settings.spike_window_s
        start = event.ts - event.ts % width
        if start > user.window_start:
            self._close_window(user, start)
        user.window_count += 1
        elapsed = max(0.0, event.ts - user.window_start) / width
        recent = user.window_count + user.previous_count * max(0.0, 1.0 - elapsed)
        if recent < settings.spike_min_count:
            return
        usual = max(user.baseline, settings.spike_baseline_floor)
        known = user.windows_seen >= settings.spike_min_history_windows
        if known and recent > settings.spike_factor * usual:
            batch.add(index, ACCESS_SPIKE, settings.spike_weight,
                      f"{recent:.0f} events in the last {width:g} s, {recent / usual:.1f}x "
                      f"this user's usual {user.baseline:.1f} per {width:g} s")
        elif (not known and settings.spike_absolute_count
              and recent >= settings.spike_absolute_count):
            batch.add(index, ACCESS_SPIKE, settings.spike_weight,
                      f"{recent:.0f} events in the last {width:g} s from a user without "
                      f"a baseline yet (limit {settings.spike_absolute_count})")

    def _close_window(self, user: UserState, start: float) -> None:
        settings = self.settings
        if user.window_count:
            count: float = user.window_count
            if user.windows_seen >= settings.spike_min_history_windows:
                # Once the baseline is known, a spike moves it only as far as the threshold.
                usual = max(user.baseline, settings.spike_baseline_floor)
                count = min(count, settings.spike_factor * usual)
            if user.windows_seen:
                user.baseline += settings.spike_baseline_alpha * (count - user.baseline)
            else:
                user.baseline = count
            user.windows_seen += 1
        adjacent = start - user.window_start == settings.spike_window_s
        user.previous_count = user.window_count if adjacent else 0
        user.window_start = start
        user.window_count = 0

    # auth.failure_burst

    def _logins(self, batch: Batch, index: int, event: Event, user: UserState) -> None:
        settings = self.settings
        horizon = event.ts - settings.failure_window_s
        failures = user.failures
        if failures is not None:
            while failures and failures[0] < horizon:
                failures.popleft()
        if not is_failed_login(event):
            if not event.error_code:  # a success (other errors are neither)
                self._login_succeeded(batch, index, user)
            return
        if failures is None:
            failures = user.failures = deque(maxlen=settings.max_window_events)
        failures.append(event.ts)
        findings: list[tuple[float, str]] = []
        if len(failures) >= settings.user_failure_threshold:
            findings.append((settings.user_failure_weight,
                             f"{len(failures)} failed logins in {settings.failure_window_s:g} s "
                             f"for this user"))
        if event.ip_address is not None:
            per_ip = self._ip_failures(event.ip_address, event, horizon)
            if per_ip is not None:
                findings.append(per_ip)
        if findings:
            weight = max(w for w, _ in findings)
            batch.add(index, FAILURE_BURST, weight, "; ".join(d for _, d in findings))

    def _login_succeeded(self, batch: Batch, index: int, user: UserState) -> None:
        settings = self.settings
        failed = len(user.failures or ())
        if failed >= settings.user_failure_threshold:
            batch.add(index, FAILURE_BURST, settings.user_failure_weight,
                      f"login succeeded after {failed} failed logins in "
                      f"{settings.failure_window_s:g} s")
        user.failures = None

    def _ip_failures(self, ip: str, event: Event, horizon: float) -> tuple[float, str] | None:
        settings = self.settings
        state = self.ips.get_or_create(ip, IpFailures)
        state.expire(horizon)
        state.add(event.ts, event.user_id, settings.max_window_events)
        count, users = len(state.events), len(state.users)
        if count < settings.ip_failure_threshold and users < settings.ip_distinct_users_threshold:
            return None
        return (settings.ip_failure_weight,
                f"{count} failed logins in {settings.failure_window_s:g} s from {ip} "
                f"across {users} users")

    # data.bulk_export

    def _export(self, batch: Batch, index: int, size: int, user: UserState) -> None:
        settings = self.settings
        if size >= settings.export_floor_bytes:
            because = self._export_outlier(size, user)
            if because:
                batch.add(index, BULK_EXPORT, settings.export_weight,
                          f"export of {human_bytes(size)}: {because}")
        if user.exports_seen:
            user.export_mean += settings.export_user_alpha * (size - user.export_mean)
        else:
            user.export_mean = float(size)
        user.exports_seen += 1
        self.export_sizes.add(size)

    def _export_outlier(self, size: int, user: UserState) -> str:
        settings = self.settings
        if settings.export_absolute_bytes and size >= settings.export_absolute_bytes:
            return f"over the absolute limit of {human_bytes(settings.export_absolute_bytes)}"
        if (user.exports_seen >= settings.export_user_min_history
                and size > settings.export_user_factor * user.export_mean):
            return (f"{size / max(user.export_mean, 1.0):.0f}x this user's usual "
                    f"{human_bytes(user.export_mean)}")
        sizes = self.export_sizes
        if sizes.total >= settings.export_population_min_count:
            high = sizes.quantile(settings.export_population_quantile)
            if size > settings.export_population_factor * high:
                percent = settings.export_population_quantile * 100
                return (f"{size / high:.1f}x the {percent:g}th percentile of all exports "
                        f"({human_bytes(high)})")
        return ""

    # account.takeover_pattern

    def _takeover(self, batch: Batch, index: int, event: Event, user: UserState,
                  hit: GeoHit | None) -> None:
        device = event.device_id
        new_device = device is not None and device not in user.devices
        country = hit.country if hit is not None else None
        if not country and event.region != user.last_region:
            user.last_region = event.region
            country = ip_country(event, None)
        new_country = country is not None and country not in user.countries
        if new_device or new_country:
            self._note_novelty(user, event.ts, device if new_device else None,
                               country if new_country else None)
        if event.event_type in SENSITIVE_CHANGES:
            age = event.ts - user.novelty_ts
            if 0 <= age <= self.settings.takeover_window_s:
                batch.add(index, TAKEOVER, self.settings.takeover_weight,
                          f"{event.event_type} {human_age(age)} after {user.novelty}")

    def _note_novelty(self, user: UserState, ts: float, device: str | None,
                      country: str | None) -> None:
        """Remember a new device or country; it is news only for a user already known."""
        settings = self.settings
        novelties = []
        if device is not None:
            if user.devices:
                novelties.append(f"new device {device}")
            user.devices = (*user.devices, device)[-settings.max_known_devices:]
        if country is not None:
            if user.countries:
                novelties.append(f"new country {country}")
            user.countries = (*user.countries, country)[-settings.max_known_countries:]
        if novelties:
            user.novelty = " and ".join(novelties)
            user.novelty_ts = ts
