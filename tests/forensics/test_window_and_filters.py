"""Windows and filters as an investigator types them: RFC 3339 or relative times,
edges (the start in, the end out), addresses and CIDR networks, regions with their
subdivisions, codes and levels from the assessment."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from ottwatch.events import Event
from ottwatch.forensics.filters import EventFilter
from ottwatch.forensics.window import Window, parse_instant
from ottwatch.pipeline import Assessment, Reason

NOW = datetime(2026, 9, 3, 4, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text, expected", [
    ("2026-09-03T02:00:00Z", NOW - 7200),
    ("2026-09-03T04:00:00+02:00", NOW - 7200),
    ("2026-09-03", NOW - 4 * 3600),
    ("-2h", NOW - 7200),
    ("-1h30m", NOW - 5400),
    ("now", NOW),
])
def test_instants_absolute_and_relative(text: str, expected: float) -> None:
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize("text, says", [
    ("yesterday", "not a time"), ("-2x", "not a duration"),
    ("2026-09-03T02:00:00", "no time zone"),
])
def test_bad_instants_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_instant(text, NOW)


def test_the_window_takes_its_start_and_not_its_end() -> None:
    window = Window.parse("2026-09-03T02:00:00Z", "2026-09-03T04:00:00Z", NOW)
    assert window.contains(NOW - 7200) and window.contains(NOW - 0.001)
    assert not window.contains(NOW) and not window.contains(NOW - 7200.001)
    assert window.describe() == "from 2026-09-03T02:00:00Z to 2026-09-03T04:00:00Z"
    assert Window.parse(None, None, NOW) == Window(-math.inf, math.inf)
    assert not Window().bounded and Window(since=0).bounded
    with pytest.raises(ValueError, match="empty"):
        Window.parse("-1h", "-2h", NOW)


def event(user: str = "u-1", ip: str | None = "203.0.113.7", region: str | None = "DE-BY"
          ) -> Event:
    return Event(event_id="e-1", ts=NOW, timestamp="-", user_id=user, event_type="login",
                 ip_address=ip, region=region)


def assessment(level: str = "high", codes: tuple[str, ...] = ("geo.impossible_travel",)
               ) -> Assessment:
    return Assessment("e-1", "u-1", NOW, "-", 70.0, level, "review", 40.0,
                      [Reason(code, 10.0, "") for code in codes])


def test_addresses_and_networks_v4_and_v6() -> None:
    assert EventFilter.build(ips=["203.0.113.0/24"]).matches(event())
    assert EventFilter.build(ips=["203.0.113.7"]).matches(event())
    assert not EventFilter.build(ips=["203.0.113.8"]).matches(event())
    assert EventFilter.build(ips=["2001:db8::/32"]).matches(event(ip="2001:db8::1"))
    assert not EventFilter.build(ips=["2001:db8::/32"]).matches(event(ip=None))
    assert not EventFilter.build(ips=["10.0.0.0/8"]).matches(event(ip="not an ip"))
    with pytest.raises(ValueError, match="not an IP address"):
        EventFilter.build(ips=["203.0.113.0/33"])


def test_users_rings_and_regions() -> None:
    assert EventFilter.build(users=["u-1", "u-2"]).matches(event())
    assert not EventFilter.build(users=["u-2"]).matches(event())
    assert EventFilter.build(ring_members={"u-1", "u-9"}).matches(event())
    assert not EventFilter.build(ring_members={"u-9"}).matches(event())
    assert EventFilter.build(regions=["de"]).matches(event())  # the country takes DE-BY
    assert EventFilter.build(regions=["DE-BY"]).matches(event())
    assert not EventFilter.build(regions=["DE-BE"]).matches(event())
    assert not EventFilter.build(regions=["DE"]).matches(event(region=None))


def test_codes_and_levels_need_the_assessment_and_all_criteria_hold() -> None:
    wanted = EventFilter.build(codes=["geo.impossible_travel"], levels=["high", "critical"])
    assert wanted.matches(event(), assessment())
    assert not wanted.matches(event(), None)
    assert not wanted.matches(event(), assessment(level="medium"))
    assert not wanted.matches(event(), assessment(codes=("auth.failure_burst",)))
    assert not EventFilter.build(users=["u-1"], ips=["10.0.0.0/8"]).matches(event())
    assert EventFilter.build().empty and EventFilter.build().matches(event())
    with pytest.raises(ValueError, match="level 'hihg'"):
        EventFilter.build(levels=["hihg"])
