"""The anonymizer list format: one IP, CIDR or `first-last` range a line, v4 or v6.

    # kind: tor              <- optional header: the kind of every line below
    192.0.2.10               <- kind from the header, else from the file name
    vpn 2001:db8:8::/48      <- a kind prefix (tor/vpn/proxy/hosting) wins
    hosting:192.0.2.64/27
    ExitAddress 192.0.2.9 2026-11-01 10:00:00   <- Tor's exit-addresses format

`#` starts a comment anywhere on a line; commas and semicolons separate like spaces.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ottwatch.geo.addresses import parse_ip

KIND_WORDS = {
    "tor": "tor", "vpn": "vpn", "proxy": "proxy", "proxies": "proxy",
    "hosting": "hosting", "datacenter": "hosting", "datacentre": "hosting",
}
_HEADER = re.compile(r"^#\s*kind\s*[:=]\s*([a-z]+)", re.IGNORECASE)
# `tor` only at the start of a word (not in `history`); the others anywhere (`nordvpn`).
_NAME_KIND = re.compile(r"((?<![a-z])tor|vpn|prox(?:y|ies)|hosting|datacent(?:er|re))",
                        re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True)
class Entry:
    start: int
    end: int
    version: int
    kind: str | None
    text: str  # canonical: `192.0.2.0/24`, `2001:db8::1`, `192.0.2.1-192.0.2.9`


@dataclass(slots=True)
class ParsedList:
    entries: list[Entry] = field(default_factory=list)
    skipped: int = 0
    kind: str | None = None  # from a `# kind:` header


def kind_from_name(name: str) -> str | None:
    """`tor-exits.txt` -> tor, `vpn_ranges` -> vpn, `datacenter.lst` -> hosting."""
    match = _NAME_KIND.search(name)
    return KIND_WORDS[match.group(1).lower()] if match else None


def parse_network(token: str) -> tuple[int, int, int, str] | None:
    """`(start, end, version, canonical text)` of an IP, CIDR or range; None if none of them."""
    if "/" in token:
        try:
            network = ipaddress.ip_network(token, strict=False)
        except ValueError:
            return None
        return (int(network.network_address), int(network.broadcast_address),
                network.version, network.compressed)
    if "-" in token:
        first_text, _, last_text = token.partition("-")
        first, last = parse_ip(first_text), parse_ip(last_text)
        if first is None or last is None or first.version != last.version or first > last:
            return None
        return int(first), int(last), first.version, f"{first.compressed}-{last.compressed}"
    address = parse_ip(token)
    if address is None:
        return None
    return int(address), int(address), address.version, address.compressed


def parse_line(line: str) -> Entry | None:
    """An entry, or None for a blank or comment line; ValueError for anything else."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    tokens = [t for t in _SEPARATORS.split(text) if t]
    kind: str | None = None
    head = tokens[0]
    if head == "ExitAddress" and len(tokens) > 1:
        kind, tokens = "tor", tokens[1:]
    elif head.lower() in KIND_WORDS and len(tokens) > 1:
        kind, tokens = KIND_WORDS[head.lower()], tokens[1:]
    else:
        prefix, sep, rest = head.partition(":")
        if not sep:
            prefix, sep, rest = head.partition("=")
        if sep and prefix.lower() in KIND_WORDS:
            kind, tokens = KIND_WORDS[prefix.lower()], [rest]
    parsed = parse_network(tokens[0])
    if parsed is None:
        raise ValueError(f"not an IP, CIDR or range: {tokens[0][:64]!r}")
    start, end, version, canonical = parsed
    return Entry(start, end, version, kind, canonical)


def parse_list(text: str) -> ParsedList:
    out = ParsedList()
    for line in text.splitlines():
        if out.kind is None and (header := _HEADER.match(line.strip())):
            out.kind = KIND_WORDS.get(header.group(1).lower())
            continue
        try:
            entry = parse_line(line)
        except ValueError:
            out.skipped += 1
            continue
        if entry is not None:
            out.entries.append(entry)
    return out
