"""What a GeoIP lookup tells the other stages (`batch.columns["geo"]`, one per event)."""

from __future__ import annotations

from dataclasses import dataclass

ANONYMIZER_KINDS = ("tor", "vpn", "proxy", "hosting")  # most telling first


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
    asn_org: str | None = None
    anonymizer_source: str | None = None  # the list file or database that said so

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def place(self) -> str:
        """`Los Angeles, US`, `US`, or `unknown place`."""
        parts = [p for p in (self.city, self.country) if p]
        return ", ".join(parts) if parts else "unknown place"
