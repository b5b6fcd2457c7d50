"""Which events an investigator asks about: by user, address or network, ring, reason
code, level or claimed region. Every given criterion must hold; several values of
one criterion are alternatives."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from ottwatch.events import Event
from ottwatch.pipeline import Assessment
from ottwatch.vocabulary import LEVELS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network:
    """`203.0.113.7` (that address) or `203.0.113.0/24` -> a network; ValueError names
    the text."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR network "
                         "(e.g. 203.0.113.7 or 203.0.113.0/24)") from None


@dataclass(frozen=True, slots=True)
class EventFilter:
    users: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    codes: frozenset[str] = frozenset()
    levels: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()  # `DE` takes `DE-BY` too
    ring_members: frozenset[str] = field(default=frozenset())  # the users of --ring

    @classmethod
    def build(cls, *, users: Iterable[str] = (), ips: Iterable[str] = (),
              codes: Iterable[str] = (), levels: Iterable[str] = (),
              regions: Iterable[str] = (), ring_members: Collection[str] = ()) -> EventFilter:
        wrong = sorted(set(levels) - set(LEVELS))
        if wrong:
            raise ValueError(f"level {wrong[0]!r}: use one of {', '.join(LEVELS)}")
        return cls(frozenset(users), tuple(parse_network(ip) for ip in ips), frozenset(codes),
                   frozenset(levels), frozenset(r.upper() for r in regions),
                   frozenset(ring_members))

    @property
    def empty(self) -> bool:
        return not (self.users or self.networks or self.codes or self.levels or self.regions
                    or self.ring_members)

    @property
    def needs_assessment(self) -> bool:
        return bool(self.codes or self.levels)

    def matches(self, event: Event, assessment: Assessment | None = None) -> bool:
        if self.users and event.user_id not in self.users:
            return False
        if self.ring_members and event.user_id not in self.ring_members:
            return False
        if self.networks and not self._in_networks(event.ip_address):
            return False
        if self.regions and not self._in_regions(event.region):
            return False
        if self.needs_assessment:
            if assessment is None:
                return False
            if self.levels and assessment.level not in self.levels:
                return False
            if self.codes and not any(r.code in self.codes for r in assessment.reasons):
                return False
        return True

    def _in_networks(self, ip: str | None) -> bool:
        if not ip:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def _in_regions(self, region: str | None) -> bool:
        if not region:
            return False
        region = region.upper()
        return region in self.regions or region.split("-", 1)[0] in self.regions
