"""Addresses of the fixture databases and an event builder for the geo tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from ottwatch.events import Event, validate

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

# Addresses in fixtures.places blocks (and the fixture Anonymous-IP database).
LOS_ANGELES = "23.10.4.4"
NEW_YORK = "23.20.1.1"
LONDON = "81.2.3.4"
FRANKFURT = "85.10.1.1"
FRANKFURT_HOSTING = "85.10.200.7"  # a hosting provider in the Anonymous-IP database
PARIS = "90.20.5.5"
AMSTERDAM = "94.30.1.1"
SEOUL = "211.70.8.8"
FRANKFURT_V6 = "2a0a:10::1"
UNKNOWN_PUBLIC = "8.8.8.8"  # in no fixture database
LISTED_TOR = "192.0.2.10"  # fixtures/anonymizers.txt
LISTED_TOR_V6 = "2001:db8:7::10"
LISTED_VPN_CIDR = "192.0.2.130"  # inside vpn 192.0.2.128/26
LISTED_VPN_V6_CIDR = "2001:db8:8::beef"  # inside vpn 2001:db8:8::/48
DB_TOR = "198.51.100.5"  # the fixture Anonymous-IP database
DB_VPN = "198.51.100.200"

_ids = count()


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def event(ip: str | None = None, region: str | None = None, *, user: str = "u1",
          minutes: float = 0.0, **fields: Any) -> Event:
    raw: dict[str, Any] = {"event_id": f"e{next(_ids)}", "timestamp": at(minutes),
                           "user_id": user, "event_type": "login", **fields}
    if ip is not None:
        raw["ip_address"] = ip
    if region is not None:
        raw["region"] = region
    parsed = validate(raw)
    assert isinstance(parsed, Event), parsed
    return parsed
