"""The geo stage: one `GeoHit | None` per event in `batch.columns["geo"]`, and the
reasons `geo.claimed_region_mismatch`, `geo.anonymizer` and `geo.impossible_travel`.

Everything per IP (database lookup, list match, reason detail) is computed once and
cached; per event the stage does a cache hit, a region comparison and, for a user
seen at a new spot, one haversine. Anonymizer addresses take no part in travel:
an exit node's location is not the user's. Travel is judged against the user's last
trusted place; failed authentication is judged but never moves it (`geo.travel`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import orjson

from ottwatch.geo.addresses import parse_ip, special_purpose
from ottwatch.geo.anonymizers import AnonymizerMatch, AnonymizerSet
from ottwatch.geo.lookup import GeoLookup
from ottwatch.geo.model import ANONYMIZER_KINDS, GeoHit
from ottwatch.geo.settings import GeoSettings

__all__ = ["GeoSettings", "GeoStage"]
from ottwatch.geo.travel import Spot, TravelTracker, Whereabouts
from ottwatch.pipeline import Batch
from ottwatch.regions import region_matches_country
from ottwatch.stages.auth import is_failed_auth

MISMATCH = "geo.claimed_region_mismatch"
ANONYMIZER = "geo.anonymizer"
IMPOSSIBLE_TRAVEL = "geo.impossible_travel"
SNAPSHOT_VERSION = 2  # 1: the last sighting per user, loaded as the trusted one
READABLE_VERSIONS = (1, 2)

KIND_NAMES = {"tor": "Tor exit node", "vpn": "VPN exit", "proxy": "anonymous proxy",
              "hosting": "hosting provider"}


@dataclass(frozen=True, slots=True)
class Resolved:
    """Everything the stage needs about one IP, made once per IP."""

    hit: GeoHit
    anonymizer: tuple[float, str] | None  # (weight, detail) of geo.anonymizer
    spot: Spot | None  # None: no coordinates, or an anonymizer (not the user's place)


def merge(hit: GeoHit | None, listed: AnonymizerMatch | None) -> GeoHit | None:
    """The database answer with the list's anonymizer kind folded in (the more telling
    kind wins; both sources are named)."""
    if listed is None:
        return hit
    if hit is None:
        return GeoHit(country=None, anonymizer=listed.kind, anonymizer_source=listed.source)
    if hit.anonymizer is None:
        return dataclasses.replace(hit, anonymizer=listed.kind, anonymizer_source=listed.source)
    kind = min(hit.anonymizer, listed.kind, key=ANONYMIZER_KINDS.index)
    return dataclasses.replace(hit, anonymizer=kind,
                               anonymizer_source=f"{listed.source}, {hit.anonymizer_source}")


class GeoStage:
    name: ClassVar[str] = "geo"

    def __init__(self, lookup: GeoLookup | None = None,
                 anonymizers: AnonymizerSet | None = None,
                 settings: GeoSettings | None = None) -> None:
        self.lookup = lookup if lookup is not None else GeoLookup()
        self.anonymizers = anonymizers if anonymizers is not None else AnonymizerSet()
        self.settings = settings if settings is not None else GeoSettings()
        settings = self.settings
        self.travel = TravelTracker(settings.max_speed_kmh, settings.min_travel_km,
                                    settings.max_users, settings.travel_trust_after_sightings,
                                    settings.travel_trust_after_s)
        self.dirty = False
        self._unsaved = False
        self._saved_at: float | None = None
        self._resolve: Callable[[str], Resolved | None] = lru_cache(
            maxsize=self.settings.cache_size)(self._resolve_ip)

    def process(self, batch: Batch) -> None:
        if self.anonymizers.refresh(batch.now):
            self._resolve.cache_clear()  # type: ignore[attr-defined]
        resolve = self._resolve
        events = batch.events
        resolved = [resolve(e.ip_address) if e.ip_address is not None else None for e in events]
        batch.columns["geo"] = [r.hit if r is not None else None for r in resolved]
        settings = self.settings
        see = self.travel.see
        seen = False
        for index, found in enumerate(resolved):
            if found is None:
                continue
            event = events[index]
            hit = found.hit
            region, country = event.region, hit.country
            if (region is not None and country is not None and region != country
                    and not region_matches_country(region, country)):
                batch.add(index, MISMATCH, settings.mismatch_weight,
                          f"claimed region {region}, IP located in {hit.place}")
            if found.anonymizer is not None:
                batch.add(index, ANONYMIZER, *found.anonymizer)
            if found.spot is not None:
                seen = True
                leap = see(event.user_id, found.spot, event.ts,
                           trusted=not is_failed_auth(event))
                if leap is not None:
                    batch.add(index, IMPOSSIBLE_TRAVEL, settings.impossible_travel_weight,
                              leap.describe())
        self._mark(seen, batch.now)

    def snapshot(self) -> bytes:
        """Per user, LRU order: `{"version", "spots": [[lat, lon, accuracy, place]...],
        "users": [[user, spot, ts] or [user, spot, ts, former, candidate, candidate_first,
        candidate_last, candidate_count]...]}`, spots by index (-1: none); users share
        their IPs' spots."""
        index: dict[int, int] = {}  # id(spot) -> position in spots
        spots: list[Spot] = []

        def number(spot: Spot | None) -> int:
            if spot is None:
                return -1
            found = index.get(id(spot))
            if found is None:
                found = index[id(spot)] = len(spots)
                spots.append(spot)
            return found

        users = [[user, *where.to_list(number)] for user, where in self.travel.users.items()]
        return orjson.dumps({"version": SNAPSHOT_VERSION, "users": users,
                             "spots": [(s.lat, s.lon, s.accuracy_km, s.place) for s in spots]})

    def restore(self, data: bytes) -> None:
        state = orjson.loads(data)
        if state.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"geo stage state version {state.get('version')!r}, "
                             f"expected one of {READABLE_VERSIONS}")
        spots = [Spot(lat, lon, accuracy, place) for lat, lon, accuracy, place in state["spots"]]
        users = self.travel.users
        users.clear()
        for user, *row in state["users"][-self.settings.max_users:]:
            users[user] = Whereabouts.from_list(row, spots)

    def status(self) -> str:
        return f"{self.lookup.status()}; {self.anonymizers.describe()}"

    def _mark(self, seen: bool, now: float) -> None:
        """Travel state changed: ask for a snapshot at most every `snapshot_every_s`."""
        self._unsaved = self._unsaved or seen
        saved = self._saved_at
        if self._unsaved and (saved is None or not 0 <= now - saved
                              < self.settings.snapshot_every_s):
            self.dirty = True
            self._unsaved = False
            self._saved_at = now

    def _resolve_ip(self, ip: str) -> Resolved | None:
        address = parse_ip(ip)
        if address is None or special_purpose(address) is not None:
            return None
        hit = merge(self.lookup.lookup_address(address), self.anonymizers.match_address(address))
        if hit is None:
            return None
        anonymizer = None
        if hit.anonymizer is not None:
            detail = f"{KIND_NAMES[hit.anonymizer]} per {hit.anonymizer_source}"
            anonymizer = (self.settings.weight_for(hit.anonymizer), detail)
        spot = None
        if hit.anonymizer is None and hit.lat is not None and hit.lon is not None:
            spot = Spot(hit.lat, hit.lon, hit.accuracy_km or 0.0, hit.place)
        return Resolved(hit, anonymizer, spot)
