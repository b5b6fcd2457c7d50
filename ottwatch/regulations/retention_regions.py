"""What a `[retention] per_region_days` key covers: a regulation id (its regions, from
the regulation table) or a region code, as the claimed-region values to delete."""

from __future__ import annotations

from ottwatch.regions import EU_EEA, normalise_region
from ottwatch.regulations.table import load_table


def region_codes(key: str) -> tuple[set[str], set[str]]:
    """(exact region values, countries whose subdivisions also match) for a
    `per_region_days` key: a regulation id or a region code."""
    table = load_table()
    regions = table[key.upper()].regions if key.upper() in table.by_id else [key]
    exact: set[str] = set()
    countries: set[str] = set()
    for text in regions:
        region = normalise_region(text)
        if region is None:
            raise ValueError(f"retention: {key!r} is neither a regulation id nor a region")
        if region == "EU":
            exact.add("EU")
            countries |= EU_EEA
        elif "-" in region:
            exact.add(region)
        else:
            countries.add(region)
    return exact, countries
