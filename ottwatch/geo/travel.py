"""Impossible travel: great-circle distance over elapsed event time, per user."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt
from typing import Any

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = radians(lat1), radians(lat2)
    half_dphi, half_dlambda = (phi2 - phi1) / 2, radians(lon2 - lon1) / 2
    a = sin(half_dphi) ** 2 + cos(phi1) * cos(phi2) * sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))


def format_duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


@dataclass(frozen=True, slots=True)
class Spot:
    """Where an IP is (made once per IP, shared by its sightings)."""

    lat: float
    lon: float
    accuracy_km: float
    place: str


Sighting = tuple[Spot, float]  # (where, event time)


@dataclass(frozen=True, slots=True)
class Leap:
    """Two sightings too far apart for the time between them."""

    before: Spot
    after: Spot
    elapsed_s: float
    distance_km: float
    tolerance_km: float
    speed_kmh: float
    limit_kmh: float

    def describe(self) -> str:
        elapsed = self.elapsed_s
        when = "at the same time" if elapsed == 0 else f"in {format_duration(elapsed)}"
        speed = "" if elapsed == 0 else f" = {self.speed_kmh:,.0f} km/h"
        return (f"{self.before.place} -> {self.after.place}: {self.distance_km:,.0f} km {when}"
                f" ({self.tolerance_km:,.0f} km accuracy allowed{speed}, "
                f"limit {self.limit_kmh:,.0f} km/h)")


@dataclass(slots=True)
class Whereabouts:
    """What one user's travel is judged by: the last trusted sighting, the place trusted
    before a vouched-for move (a second home stays the user's), and a far place that is
    gathering sightings to be vouched for."""

    spot: Spot
    ts: float
    former: Spot | None = None
    candidate: Spot | None = None
    candidate_first: float = 0.0
    candidate_last: float = 0.0
    candidate_count: int = 0

    def to_list(self, number: Callable[[Spot | None], int]) -> list[float | int | str]:
        row: list[float | int | str] = [number(self.spot), self.ts]
        if self.former is not None or self.candidate is not None:
            row += [number(self.former), number(self.candidate), self.candidate_first,
                    self.candidate_last, self.candidate_count]
        return row

    @classmethod
    def from_list(cls, row: list[Any], spots: list[Spot]) -> Whereabouts:
        """`[spot, ts]` (all a version-1 snapshot has) or the full row; -1 is no spot."""
        found = cls(spots[row[0]], row[1])
        if len(row) > 2:
            former, candidate = row[2], row[3]
            found.former = spots[former] if former >= 0 else None
            found.candidate = spots[candidate] if candidate >= 0 else None
            found.candidate_first, found.candidate_last, found.candidate_count = row[4:7]
        return found


class TravelTracker:
    """Per user (LRU-bounded), travel judged against the last *trusted* place.

    A sighting is trusted, and becomes the place the next one is judged from, when the
    event succeeded (failed authentication is judged, never learned: an attacker's
    failed login must not move the owner) and its travel was possible. A sighting whose
    travel was impossible fires and is not learned, so the next events from the far
    place fire too. A far place is vouched for, and trusted from then on beside the old
    one, once `trust_after_sightings` successful events were seen there over at least
    `trust_after_s`: an intruder's visit is minutes long, a move or a second home is not.
    """

    def __init__(self, max_speed_kmh: float, min_travel_km: float, max_users: int,
                 trust_after_sightings: int = 3, trust_after_s: float = 12 * 3600.0) -> None:
        self.max_speed_kmh = max_speed_kmh
        self.min_travel_km = min_travel_km
        self.max_users = max_users
        self.trust_after_sightings = trust_after_sightings
        self.trust_after_s = trust_after_s
        self.users: OrderedDict[str, Whereabouts] = OrderedDict()

    def __len__(self) -> int:
        return len(self.users)

    def see(self, user_id: str, spot: Spot, ts: float, *, trusted: bool = True) -> Leap | None:
        """Judge a sighting against the user's trusted place (the leap when impossible)
        and learn from it when `trusted` (the event succeeded)."""
        users = self.users
        known = users.get(user_id)
        if known is None:
            if trusted:
                users[user_id] = Whereabouts(spot, ts)
                if len(users) > self.max_users:
                    users.popitem(last=False)
            return None
        users.move_to_end(user_id)
        learn = trusted and ts >= known.ts  # an out-of-order event is judged, not learned
        before = known.spot
        if before is spot or (before.lat == spot.lat and before.lon == spot.lon):
            if learn:
                known.ts = ts
            return None
        leap = self.check(before, known.ts, spot, ts)
        if leap is None:  # near enough, or possible in the time
            if learn:
                known.spot, known.ts = spot, ts
            return None
        if known.former is not None and self.same_place(known.former, spot):
            if learn:  # back at the other place the user lives: the trusted one now
                known.former, known.spot, known.ts = before, spot, ts
            return None
        if learn and self._vouched(known, spot, ts):
            known.former, known.spot, known.ts = before, spot, ts
            known.candidate, known.candidate_count = None, 0
            return None
        return leap

    def _vouched(self, known: Whereabouts, spot: Spot, ts: float) -> bool:
        """Count a successful sighting at a far place; True once the place has enough."""
        candidate = known.candidate
        if candidate is None or not self.same_place(candidate, spot):
            known.candidate, known.candidate_count = spot, 1
            known.candidate_first = known.candidate_last = ts
        else:
            known.candidate_count += 1
            known.candidate_last = ts
        return (known.candidate_count >= self.trust_after_sightings
                and known.candidate_last - known.candidate_first >= self.trust_after_s)

    def same_place(self, one: Spot, other: Spot) -> bool:
        """Too close to count as travel (within the accuracy radii and `min_travel_km`)."""
        if one is other or (one.lat == other.lat and one.lon == other.lon):
            return True
        distance = haversine_km(one.lat, one.lon, other.lat, other.lon)
        return distance - one.accuracy_km - other.accuracy_km < self.min_travel_km

    def check(self, before: Spot, before_ts: float, after: Spot, after_ts: float) -> Leap | None:
        distance = haversine_km(before.lat, before.lon, after.lat, after.lon)
        tolerance = before.accuracy_km + after.accuracy_km
        beyond = distance - tolerance
        if beyond < self.min_travel_km:
            return None
        hours = abs(after_ts - before_ts) / 3600
        speed = beyond / hours if hours else float("inf")
        if speed <= self.max_speed_kmh:
            return None
        return Leap(before, after, after_ts - before_ts, distance, tolerance, speed,
                    self.max_speed_kmh)
