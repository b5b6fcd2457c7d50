"""Velocity: bursts and outliers per user and per IP, in event time.

- `auth.failure_burst`: failed logins per user, and per IP across users (credential
  stuffing); a successful login right after a user's burst also carries the reason.
- `velocity.access_spike`: a user's events over a minute, ten minutes, an hour or a
  day far above its own baseline and the population's, and above an absolute floor
  (`ottwatch.stages.spikes`).
- `data.bulk_export`: an export far above the user's own exports or far above the
  population's high quantile, never below an absolute floor.
- `account.takeover_pattern`: a new device or country on an established account (seen
  for `takeover_min_account_age_s` before it), or a login from an address bursting
  failed logins across accounts around then, then within a window a password, e-mail
  or payment change. Failed authentication neither teaches a device or country nor
  counts as one: nobody got in.

All state is bounded: per-user and per-IP maps are LRU-capped, windows hold at most
`max_window_events` entries, known devices and countries per user are capped. Who is
established and the access baselines survive a restart (`velocity_state`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, model_validator

from ottwatch.detector_mode import DetectorMode
from ottwatch.events import Event
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch
from ottwatch.stages import velocity_state
from ottwatch.stages.auth import is_failed_auth, is_failed_login
from ottwatch.stages.lru import LruMap
from ottwatch.stages.sketch import LogHistogram
from ottwatch.stages.spikes import DEFAULT_SCALES, SpikeDetector, SpikeScale, Window

__all__ = ["ACCESS_SPIKE", "BULK_EXPORT", "FAILURE_BURST", "TAKEOVER", "LogHistogram",
           "SpikeScale", "VelocitySettings", "VelocityStage", "is_failed_login"]

FAILURE_BURST = "auth.failure_burst"
ACCESS_SPIKE = "velocity.access_spike"
BULK_EXPORT = "data.bulk_export"
TAKEOVER = "account.takeover_pattern"

LOGIN_TYPES = frozenset({"login", "login_failed"})
EXPORT_TYPES = frozenset({"download", "bulk_download", "export", "data_export"})
SENSITIVE_CHANGES = frozenset({"password_change", "email_change", "payment_added"})

# The one-window spike check's settings, replaced by `spike_scales`.
REPLACED_SPIKE_KEYS = frozenset({"spike_window_s", "spike_min_count", "spike_baseline_floor",
                                 "spike_min_history_windows", "spike_absolute_count"})


class VelocitySettings(DetectorMode):
    model_config = ConfigDict(extra="forbid")

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
    # velocity.access_spike: per scale (window, absolute floor), see ottwatch.stages.spikes
    spike_scales: list[SpikeScale] = Field(default_factory=lambda: list(DEFAULT_SCALES),
                                           min_length=1)
    spike_factor: float = Field(5.0, gt=1)  # times the usual (own baseline or population's)
    spike_baseline_alpha: float = Field(0.2, gt=0, le=1)
    spike_learn_cap: float = Field(5.0, ge=1)  # a spiking window is learned as this x usual
    spike_population_quantile: float = Field(0.5, gt=0, lt=1)
    spike_weight: float = Field(30.0, ge=0, le=100)
    # data.bulk_export
    export_floor_bytes: int = Field(1_000_000_000, ge=0)
    export_user_factor: float = Field(5.0, gt=1)
    export_user_min_history: int = Field(3, ge=1)
    export_population_quantile: float = Field(0.99, gt=0, lt=1)
    export_population_factor: float = Field(2.0, ge=1)
    export_population_min_count: int = Field(200, ge=1)
    export_absolute_bytes: int = Field(50_000_000_000, ge=0)  # 0: no absolute limit
    # Until the population has export_population_min_count sizes, this is "large".
    export_cold_start_bytes: int = Field(10_000_000_000, ge=0)  # 0: no cold-start rule
    export_weight: float = Field(40.0, ge=0, le=100)
    # account.takeover_pattern
    takeover_window_s: float = Field(3600.0, gt=0)
    # On a younger account everything is new (signup, trial and card within minutes, the
    # TV added that evening): a new device or country is news only after this much history.
    takeover_min_account_age_s: float = Field(86400.0, ge=0)
    takeover_weight: float = Field(55.0, ge=0, le=100)
    max_known_devices: int = Field(32, ge=1)
    max_known_countries: int = Field(16, ge=1)
    # Who is established and the access baselines are saved at most this often (batch
    # time): a snapshot holds every remembered user. A restart without one starts every
    # account anew, and `takeover_min_account_age_s` then passes before a takeover shows.
    snapshot_every_s: float = Field(3600.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _no_single_window_keys(cls, values: Any) -> Any:
        if isinstance(values, dict):
            old = sorted(REPLACED_SPIKE_KEYS & values.keys())
            if old:
                raise ValueError(f"{', '.join(old)}: access spikes are judged on several "
                                 "scales now; set spike_scales = [{window_s, min_count}...]")
        return values


@dataclass(slots=True)
class UserState:
    windows: list[Window]  # velocity.access_spike, one per scale
    failures: deque[float] | None = None
    first_seen: float = math.inf  # of a successful event
    export_peak: float = 0.0  # the largest export before this one
    exports_seen: int = 0
    devices: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    last_region: str | None = None
    novelty_ts: float = -math.inf
    novelty: str = ""
    login_ip: str | None = None  # of the last successful login
    login_ts: float = -math.inf


@dataclass(slots=True)
class IpFailures:
    events: deque[tuple[float, str]] = field(default_factory=deque)
    users: dict[str, int] = field(default_factory=dict)
    # the address's latest burst of failed logins: from, to, most accounts failed in it
    burst_from: float = -math.inf
    burst_to: float = -math.inf
    burst_users: int = 0

    def bursting(self, ts: float, users: int, window: float) -> None:
        if ts - self.burst_to > window:  # a new burst
            self.burst_from, self.burst_users = ts, 0
        self.burst_to, self.burst_users = ts, max(self.burst_users, users)

    def burst_around(self, ts: float, window: float) -> bool:
        return self.burst_from - window <= ts <= self.burst_to + window

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
        settings = self.settings
        self.spikes = SpikeDetector(settings.spike_scales, settings.spike_factor,
                                    settings.spike_baseline_alpha, settings.spike_learn_cap,
                                    settings.spike_population_quantile)
        self.dirty = False
        self._saved_at: float | None = None

    def snapshot(self) -> bytes:
        return velocity_state.dump(self.users.items(), self.spikes.widths)

    def restore(self, data: bytes) -> None:
        users = velocity_state.load(data, self.spikes.widths, self._new_user)
        if users is None:
            return
        self.users = LruMap(self.settings.max_users)
        for user_id, state in users[-self.settings.max_users:]:
            self.users.get_or_create(user_id, lambda state=state: state)

    def _mark(self, now: float) -> None:
        """Ask for a snapshot at most every `snapshot_every_s` of batch time."""
        saved = self._saved_at
        if saved is None or not 0 <= now - saved < self.settings.snapshot_every_s:
            self.dirty = True
            self._saved_at = now

    def _new_user(self) -> UserState:
        return UserState(self.spikes.windows())

    def process(self, batch: Batch) -> None:
        geo: list[GeoHit | None] | None = batch.columns.get("geo")
        user_state = self.users.get_or_create
        new_user = self._new_user
        see_spike = self.spikes.see
        spike_weight = self.settings.spike_weight
        for index, event in enumerate(batch.events):
            user = user_state(event.user_id, new_user)
            spike = see_spike(user.windows, event.ts)
            if spike is not None:
                batch.add(index, ACCESS_SPIKE, spike_weight, spike.describe())
            event_type = event.event_type
            if event_type in LOGIN_TYPES:
                self._logins(batch, index, event, user)
            elif event_type in EXPORT_TYPES and event.bytes is not None:
                self._export(batch, index, event.bytes, user)
            self._takeover(batch, index, event, user, geo[index] if geo is not None else None)
        if batch.events:
            self._mark(batch.now)

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
                user.login_ip, user.login_ts = event.ip_address, event.ts
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
        state.bursting(event.ts, users, settings.failure_window_s)
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
        user.export_peak = max(user.export_peak, float(size))
        user.exports_seen += 1
        self.export_sizes.add(size)

    def _export_outlier(self, size: int, user: UserState) -> str:
        settings = self.settings
        if settings.export_absolute_bytes and size >= settings.export_absolute_bytes:
            return f"over the absolute limit of {human_bytes(settings.export_absolute_bytes)}"
        sizes = self.export_sizes
        known = sizes.total >= settings.export_population_min_count
        high = sizes.quantile(settings.export_population_quantile) if known else 0.0
        # Far above the user's largest (downloads vary tenfold between titles, so not their
        # mean), and, once the population is known, above what anyone usually takes: a
        # few small downloads do not make an ordinary film a leak.
        if (user.exports_seen >= settings.export_user_min_history
                and size > settings.export_user_factor * user.export_peak and size > high):
            return (f"{size / max(user.export_peak, 1.0):.0f}x this user's largest before "
                    f"({human_bytes(user.export_peak)})")
        if known:
            if size > settings.export_population_factor * high:
                percent = settings.export_population_quantile * 100
                return (f"{size / high:.1f}x the {percent:g}th percentile of all exports "
                        f"({human_bytes(high)})")
        elif settings.export_cold_start_bytes and size >= settings.export_cold_start_bytes:
            return (f"over {human_bytes(settings.export_cold_start_bytes)} while fewer than "
                    f"{settings.export_population_min_count} exports are known")
        return ""

    # account.takeover_pattern

    def _takeover(self, batch: Batch, index: int, event: Event, user: UserState,
                  hit: GeoHit | None) -> None:
        if is_failed_auth(event):
            return  # judged by auth.failure_burst; it teaches nothing about the owner
        if event.ts < user.first_seen:
            user.first_seen = event.ts
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
            after = self._news_before_change(user, event.ts)
            if after:
                batch.add(index, TAKEOVER, self.settings.takeover_weight,
                          f"{event.event_type} {after}")

    def _news_before_change(self, user: UserState, ts: float) -> str:
        """What the change follows within the window: a novelty, or a login from an address
        that was bursting failed logins across accounts around then (news whatever the
        account's history: a victim may never have been seen before the attack)."""
        window = self.settings.takeover_window_s
        age = ts - user.novelty_ts
        if 0 <= age <= window:
            return f"{human_age(age)} after {user.novelty}"
        ip = user.login_ip
        age = ts - user.login_ts
        if ip is None or not 0 <= age <= window:
            return ""
        state = self.ips.get(ip)
        if state is None or not state.burst_around(user.login_ts, self.settings.failure_window_s):
            return ""
        return (f"{human_age(age)} after a login from {ip}, which failed logins for "
                f"{state.burst_users} accounts around then")

    def _note_novelty(self, user: UserState, ts: float, device: str | None,
                      country: str | None) -> None:
        """Remember a new device or country; it is news only for an established user (one
        already known, seen for `takeover_min_account_age_s`)."""
        settings = self.settings
        established = ts - user.first_seen >= settings.takeover_min_account_age_s
        novelties = []
        if device is not None:
            if user.devices and established:
                novelties.append(f"new device {device}")
            user.devices = (*user.devices, device)[-settings.max_known_devices:]
        if country is not None:
            if user.countries and established:
                novelties.append(f"new country {country}")
            user.countries = (*user.countries, country)[-settings.max_known_countries:]
        if novelties:
            user.novelty = " and ".join(novelties)
            user.novelty_ts = ts
