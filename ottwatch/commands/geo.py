"""`ottwatch geoip check IP` explains a lookup; `ottwatch feeds update` fetches the
anonymizer lists of `[geo] feed_urls`."""

from __future__ import annotations

import click

from ottwatch.commands.common import config_option, load
from ottwatch.geo.addresses import is_documentation, parse_ip, special_purpose
from ottwatch.geo.anonymizers import AnonymizerSet
from ottwatch.geo.lookup import GeoLookup
from ottwatch.geo.model import GeoHit
from ottwatch.geo.paths import feeds_folder
from ottwatch.geo.setup import open_anonymizers, open_lookup
from ottwatch.geo.stage import KIND_NAMES, merge

ROLES = ("city", "asn", "anonymous-ip")


@click.group("geoip")
def geoip() -> None:
    """GeoIP databases and anonymizer lists: what ottwatch knows about an address."""


@geoip.command("check")
@click.argument("ip")
@config_option
def check(ip: str, config_path: str | None) -> None:
    """Explain the lookup of IP: databases used, place, ASN, anonymizer kind and source."""
    address = parse_ip(ip)
    if address is None:
        raise click.BadParameter(f"not an IPv4 or IPv6 address: {ip!r}", param_hint="IP")
    config = load(config_path)
    with open_lookup(config) as lookup:
        anonymizers = open_anonymizers(config)
        _row("address", address.compressed if address.compressed == ip.strip()
             else f"{address.compressed} (from {ip.strip()})")
        _row("status", lookup.status().split(";", 1)[0])
        _show_sources(lookup, anonymizers)
        why = special_purpose(address)
        if why is not None:
            _row("result", f"{why} address: no location and no flag")
            return
        if is_documentation(address):
            _row("note", "documentation range (RFC 5737/3849): looked up like a public "
                         "address so examples and tests can use it")
        _show_hit(merge(lookup.lookup_address(address), anonymizers.match_address(address)),
                  lookup.enabled)


def _row(label: str, value: str) -> None:
    click.echo(f"{label + ':':<17}{value}")


def _show_sources(lookup: GeoLookup, anonymizers: AnonymizerSet) -> None:
    databases = lookup.databases
    for role in ROLES:
        if role in databases:
            info = databases[role]
            _row(f"{role} db", f"{info.database_type} ({info.path}, built {info.built})")
        elif role in lookup.problems:
            _row(f"{role} db", f"unusable: {lookup.problems[role]}")
        else:
            _row(f"{role} db", "none")
    if not anonymizers.lists:
        _row("lists", "none configured ([geo] anonymizer_lists, [geo] feed_urls)")
    for status in anonymizers.lists:
        _row("list", status.describe())


def _show_hit(hit: GeoHit | None, located: bool) -> None:
    if not located:
        _row("location", "unknown: geo checks off (no city database)")
    elif hit is None or hit.country is None:
        _row("location", "not in the city database")
    else:
        _row("country", hit.country)
        if hit.subdivision:
            _row("subdivision", f"{hit.country}-{hit.subdivision}")
        if hit.city:
            _row("city", hit.city)
        if hit.located:
            accuracy = f" (accuracy {hit.accuracy_km:,.0f} km)" if hit.accuracy_km else ""
            _row("coordinates", f"{hit.lat:.4f}, {hit.lon:.4f}{accuracy}")
    if hit is not None and hit.asn is not None:
        _row("asn", f"AS{hit.asn} {hit.asn_org or ''}".rstrip())
    if hit is not None and hit.anonymizer is not None:
        _row("anonymizer", f"{hit.anonymizer}: {KIND_NAMES[hit.anonymizer]} "
                           f"per {hit.anonymizer_source}")
    else:
        _row("anonymizer", "none (in no list and no anonymous-IP database)")


@click.group("feeds")
def feeds() -> None:
    """Anonymizer lists fetched from [geo] feed_urls."""


@feeds.command("update")
@config_option
def update(config_path: str | None) -> None:
    """Fetch every [geo] feed_urls list into the state folder's feeds/ (mode 0600);
    the agent picks changed lists up by themselves."""
    from ottwatch.geo.feeds import update_feeds

    config = load(config_path)
    if not config.geo.feed_urls:
        click.echo("no feeds configured: add URLs to [geo] feed_urls")
        return
    folder = feeds_folder(config)
    results, removed = update_feeds(config.geo.feed_urls, folder)
    for result in results:
        click.echo(result.describe())
    for path in removed:
        click.echo(f"removed {path} (its URL is no longer in [geo] feed_urls)")
    updated = [r for r in results if r.error is None]
    entries = sum(r.entries for r in updated)
    click.echo(f"{len(updated)} of {len(results)} feeds updated, {entries:,} entries in {folder}")
    if len(updated) < len(results):
        click.get_current_context().exit(1)
commands = [geoip, feeds]
