from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import geoip2.database
import pytest

from fixtures.geo import CITY_ACCURACY_KM, FIRST_FIXTURE_ASN
from ottwatch.config import GeoConfig
from ottwatch.geo.addresses import is_documentation, parse_ip, special_purpose
from ottwatch.geo.lookup import NO_CITY_DB, GeoLookup, discover_databases

from .helpers import (
    DB_TOR,
    DB_VPN,
    FRANKFURT,
    FRANKFURT_HOSTING,
    FRANKFURT_V6,
    LOS_ANGELES,
    SEOUL,
    UNKNOWN_PUBLIC,
)


def test_fixture_databases_are_readable_by_geoip2(geo_dbs: dict[str, Path]) -> None:
    with geoip2.database.Reader(str(geo_dbs["city"])) as reader:
        assert reader.metadata().database_type == "GeoLite2-City"
        city = reader.city(SEOUL)
        assert (city.country.iso_code, city.city.name) == ("KR", "Seoul")
        assert city.location.accuracy_radius == CITY_ACCURACY_KM
    with geoip2.database.Reader(str(geo_dbs["asn"])) as reader:
        assert reader.asn(LOS_ANGELES).autonomous_system_number == FIRST_FIXTURE_ASN
    with geoip2.database.Reader(str(geo_dbs["anonymous"])) as reader:
        assert reader.anonymous_ip(DB_TOR).is_tor_exit_node
        assert reader.anonymous_ip(DB_VPN).is_anonymous_vpn


def test_city_lookup_gives_country_subdivision_city_coordinates_and_asn(
        geo_lookup: GeoLookup) -> None:
    hit = geo_lookup.lookup(LOS_ANGELES)
    assert hit is not None
    assert (hit.country, hit.subdivision, hit.city) == ("US", "CA", "Los Angeles")
    assert (hit.lat, hit.lon, hit.accuracy_km) == (34.05, -118.24, float(CITY_ACCURACY_KM))
    assert hit.asn == FIRST_FIXTURE_ASN
    assert hit.asn_org == "Los Angeles Broadband (fixture)"
    assert hit.anonymizer is None
    assert hit.place == "Los Angeles, US"


def test_ipv6_and_ipv4_mapped_addresses(geo_lookup: GeoLookup) -> None:
    v6 = geo_lookup.lookup(FRANKFURT_V6)
    assert v6 is not None and (v6.country, v6.city) == ("DE", "Frankfurt")
    mapped = geo_lookup.lookup(f"::ffff:{LOS_ANGELES}")
    assert mapped is not None and mapped.city == "Los Angeles"


@pytest.mark.parametrize("ip", ["10.1.2.3", "172.16.0.9", "192.168.1.1", "127.0.0.1",
                                "169.254.10.10", "100.64.1.1", "224.0.0.1", "0.0.0.0",
                                "255.255.255.255", "::1", "fe80::1", "fd00::5", "ff02::1",
                                "::ffff:10.0.0.1"])
def test_special_purpose_addresses_have_no_location(geo_lookup: GeoLookup, ip: str) -> None:
    address = parse_ip(ip)
    assert address is not None and special_purpose(address) is not None
    assert geo_lookup.lookup(ip) is None


def test_documentation_ranges_are_looked_up_like_public_addresses() -> None:
    for ip in ("192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1"):
        address = parse_ip(ip)
        assert address is not None
        assert special_purpose(address) is None
        assert is_documentation(address)
    assert not is_documentation(ipaddress.ip_address(LOS_ANGELES))


def test_nat64_address_is_looked_up_as_its_ipv4(geo_lookup: GeoLookup) -> None:
    hit = geo_lookup.lookup(f"64:ff9b::{SEOUL}")
    assert hit is not None and hit.city == "Seoul"


def test_unknown_and_invalid_addresses(geo_lookup: GeoLookup) -> None:
    assert geo_lookup.lookup(UNKNOWN_PUBLIC) is None
    assert geo_lookup.lookup("not an ip") is None


def test_anonymous_ip_database_kinds(geo_lookup: GeoLookup) -> None:
    kinds = {ip: geo_lookup.lookup(ip) for ip in
             (DB_TOR, DB_VPN, "203.0.113.9", FRANKFURT_HOSTING, "2001:db8:ffff::1")}
    assert {ip: hit.anonymizer for ip, hit in kinds.items() if hit} == {
        DB_TOR: "tor", DB_VPN: "vpn", "203.0.113.9": "proxy", FRANKFURT_HOSTING: "hosting",
        "2001:db8:ffff::1": "vpn"}
    hosting = kinds[FRANKFURT_HOSTING]
    assert hosting is not None
    assert hosting.city == "Frankfurt"  # location and anonymizer together
    assert hosting.anonymizer_source == "GeoIP2-Anonymous-IP.mmdb"
    tor = kinds[DB_TOR]
    assert tor is not None and tor.country is None  # not in the city database


def test_lookups_are_cached_per_ip(geo_lookup: GeoLookup) -> None:
    first = geo_lookup.lookup(FRANKFURT)
    assert geo_lookup.lookup(FRANKFURT) is first
    info = geo_lookup.lookup.cache_info()  # type: ignore[attr-defined]
    assert info.hits >= 1 and info.maxsize == 100_000


def test_status_lists_databases(geo_lookup: GeoLookup, geo_dbs: dict[str, Path]) -> None:
    status = geo_lookup.status()
    assert status.startswith("geo checks on")
    assert str(geo_dbs["city"]) in status and "GeoLite2-City" in status
    assert "GeoLite2-ASN" in status and "GeoIP2-Anonymous-IP" in status
    assert geo_lookup.enabled


def test_no_database_mode_runs_and_says_so() -> None:
    lookup = GeoLookup()
    assert not lookup.enabled
    assert lookup.status() == NO_CITY_DB
    assert "geo checks off: no city database" in lookup.status()
    assert "GeoLite2-City.mmdb" in lookup.status()
    assert lookup.lookup(LOS_ANGELES) is None


def test_missing_or_wrong_database_is_reported_not_raised(
        tmp_path: Path, geo_dbs: dict[str, Path]) -> None:
    missing = GeoLookup(tmp_path / "GeoLite2-City.mmdb")
    assert not missing.enabled
    assert missing.status().startswith("geo checks off: city database")
    assert "no such file" in missing.status()

    wrong = GeoLookup(geo_dbs["asn"])
    assert not wrong.enabled
    assert "is a GeoLite2-ASN database" in wrong.status()

    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    partial = GeoLookup(geo_dbs["city"], asn_db=junk)
    assert partial.enabled
    assert "asn database" in partial.status() and "not a readable" in partial.status()
    hit = partial.lookup(LOS_ANGELES)
    assert hit is not None and hit.city == "Los Angeles" and hit.asn is None


def test_discovery_by_file_name_in_config_folder(tmp_path: Path,
                                                 geo_dbs: dict[str, Path]) -> None:
    assert discover_databases(tmp_path, search_dirs=()).city is None
    shutil.copy(geo_dbs["city"], tmp_path / "dbip-city-lite-2026-09.mmdb")
    shutil.copy(geo_dbs["city"], tmp_path / "dbip-city-lite-2026-11.mmdb")
    assert discover_databases(tmp_path, ()).city == tmp_path / "dbip-city-lite-2026-11.mmdb"
    shutil.copy(geo_dbs["city"], tmp_path / "GeoLite2-City.mmdb")
    shutil.copy(geo_dbs["asn"], tmp_path / "GeoLite2-ASN.mmdb")
    found = discover_databases(tmp_path, ())
    assert found.city == tmp_path / "GeoLite2-City.mmdb"
    assert found.asn == tmp_path / "GeoLite2-ASN.mmdb"
    assert found.anonymous is None


def test_discovery_searches_system_folders_after_the_config_folder(
        tmp_path: Path, geo_dbs: dict[str, Path]) -> None:
    system, config = tmp_path / "usr-share-GeoIP", tmp_path / "etc"
    system.mkdir()
    config.mkdir()
    shutil.copy(geo_dbs["city"], system / "GeoIP2-City.mmdb")
    shutil.copy(geo_dbs["anonymous"], system / "GeoIP2-Anonymous-IP.mmdb")
    assert discover_databases(config, [system]).city == system / "GeoIP2-City.mmdb"
    shutil.copy(geo_dbs["city"], config / "GeoLite2-City.mmdb")
    found = discover_databases(config, [system])
    assert found.city == config / "GeoLite2-City.mmdb"
    assert found.anonymous == system / "GeoIP2-Anonymous-IP.mmdb"


def test_from_config_prefers_configured_paths(tmp_path: Path, geo_dbs: dict[str, Path]) -> None:
    geo = GeoConfig(city_db=str(tmp_path / "missing.mmdb"))
    lookup = GeoLookup.from_config(geo, geo_dbs["city"].parent, search_dirs=())
    assert not lookup.enabled  # a configured path is honoured, not silently replaced
    assert "missing.mmdb: no such file" in lookup.status()
    assert lookup.databases["asn"].path == geo_dbs["asn"]  # the others were discovered

    configured = GeoLookup.from_config(GeoConfig(city_db=str(geo_dbs["city"])), None,
                                       search_dirs=())
    assert configured.enabled and set(configured.databases) == {"city"}
