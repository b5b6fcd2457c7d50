"""Which addresses have no place on the map: private, loopback, link-local, CGNAT,
multicast, reserved. They get no location and no flag.

Documentation ranges (RFC 5737, RFC 3849) are deliberately *not* special here:
they are looked up like public addresses so examples, fixtures and tests can use
them (real traffic never comes from them).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPECIAL_V4 = tuple((ipaddress.IPv4Network(cidr), why) for cidr, why in (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT shared space (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (RFC 1112) or broadcast"),
))
_SPECIAL_V6 = tuple((ipaddress.IPv6Network(cidr), why) for cidr, why in (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("fc00::/7", "unique local, private (RFC 4193)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local, deprecated (RFC 3879)"),
    ("ff00::/8", "multicast"),
))
_SPECIAL_V4_SPANS = tuple((int(net.network_address), int(net.broadcast_address), why)
                          for net, why in _SPECIAL_V4)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DOCUMENTATION = tuple(ipaddress.ip_network(cidr) for cidr in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def parse_ip(text: str) -> IPAddress | None:
    """An address, with IPv4-mapped (`::ffff:1.2.3.4`) and NAT64 (`64:ff9b::1.2.3.4`) IPv6
    turned into the IPv4 address they carry; None if the text is not an address."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@lru_cache(maxsize=4096)
def special_purpose(address: IPAddress) -> str | None:
    """Why an address has no place on the map (`private (RFC 1918)`), or None if it is public."""
    if address.version == 4:
        value = int(address)
        for first, last, why in _SPECIAL_V4_SPANS:
            if first <= value <= last:
                return why
        return None
    for network, why in _SPECIAL_V6:
        if address in network:
            return why
    if address.is_reserved:
        return "reserved by the IETF"
    return None


def is_documentation(address: IPAddress) -> bool:
    return any(address in network for network in _DOCUMENTATION
               if network.version == address.version)
