"""Claimed regions: ISO 3166-1 alpha-2 with an optional subdivision, `UK` and `EU`."""

from __future__ import annotations

import re
from functools import lru_cache

EU_MEMBERS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
EEA_EXTRA = frozenset({"IS", "LI", "NO"})
EU_EEA = EU_MEMBERS | EEA_EXTRA

_REGION = re.compile(r"^([A-Z]{2})(?:-([A-Z0-9]{1,3}))?$")


@lru_cache(maxsize=4096)
def normalise_region(text: str) -> str | None:
    """`uk` -> `GB`, `us-ca` -> `US-CA`, `eu` -> `EU`; None when not a region code."""
    value = text.strip().upper().replace("_", "-")
    match = _REGION.match(value)
    if match is None:
        return None
    country, subdivision = match.groups()
    if country == "UK":
        country = "GB"
    return f"{country}-{subdivision}" if subdivision else country


def is_eu_region(region: str) -> bool:
    """Is a normalised region in the EU/EEA? `EU` itself, `FR`, `FR-75`."""
    return region == "EU" or region.split("-", 1)[0] in EU_EEA


def region_matches_country(region: str, country: str) -> bool:
    """Does an IP's country satisfy a claimed region? `EU` matches any EU/EEA country."""
    if region == "EU":
        return country in EU_EEA
    return region.split("-", 1)[0] == country
