"""Impossible travel: great-circle distance over elapsed event time, per user."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt

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


class TravelTracker:
    """The last sighting per user (LRU-bounded) and the check against it."""

    def __init__(self, max_speed_kmh: float, min_travel_km: float, max_users: int) -> None:
        self.max_speed_kmh = max_speed_kmh
        self.min_travel_km = min_travel_km
        self.max_users = max_users
        self.last: OrderedDict[str, Sighting] = OrderedDict()

    def __len__(self) -> int:
        return len(self.last)

    def see(self, user_id: str, spot: Spot, ts: float) -> Leap | None:
        """Record a sighting; the leap from the user's last one when it is impossible."""
        last = self.last
        before = last.get(user_id)
        if before is None:
            last[user_id] = (spot, ts)
            if len(last) > self.max_users:
                last.popitem(last=False)
            return None
        last.move_to_end(user_id)
        before_spot, before_ts = before
        if ts >= before_ts:  # an out-of-order event is checked, not remembered
            last[user_id] = (spot, ts)
        if before_spot is spot or (before_spot.lat == spot.lat and before_spot.lon == spot.lon):
            return None
        return self.check(before_spot, before_ts, spot, ts)

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
