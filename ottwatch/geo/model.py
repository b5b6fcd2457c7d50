"""What a GeoIP lookup tells the other stages (`batch.columns["geo"]`, one per event)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class GeoHit:
    country: str | None  # ISO 3166-1 alpha-2
    subdivision: str | None = None  # ISO 3166-2 suffix (`CA` for US-CA)
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_km: float | None = None
    asn: int | None = None
    anonymizer: str | None = None  # "tor", "vpn", "hosting", "proxy" or None
