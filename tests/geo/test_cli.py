from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fixtures.geo import anonymizer_list_path
from ottwatch.commands.geo import feeds, geoip

from .helpers import DB_TOR, FRANKFURT_V6, LISTED_TOR, LOS_ANGELES, UNKNOWN_PUBLIC


def write_config(folder: Path, geo: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ottwatch.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{folder}/ottwatch.db"\n\n[geo]\n{geo}\n')
    return path


@pytest.fixture
def config(tmp_path: Path, geo_dbs: dict[str, Path]) -> Path:
    """Databases given explicitly, the fixture anonymizer list by a relative path."""
    folder = tmp_path / "etc"
    folder.mkdir()
    shutil.copy(anonymizer_list_path(), folder / "anonymizers.txt")
    return write_config(folder, f'city_db = "{geo_dbs["city"]}"\n'
                                f'asn_db = "{geo_dbs["asn"]}"\n'
                                f'anonymous_db = "{geo_dbs["anonymous"]}"\n'
                                'anonymizer_lists = ["anonymizers.txt"]\n')


def check(ip: str, config: Path) -> Result:
    return CliRunner().invoke(geoip, ["check", ip, "--config", str(config)])


def test_check_explains_a_located_address(config: Path, geo_dbs: dict[str, Path]) -> None:
    result = check(LOS_ANGELES, config)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["address:", LOS_ANGELES]
    assert "status:          geo checks on" in lines
    assert f"city db:         GeoLite2-City ({geo_dbs['city']}, built" in result.output
    assert "asn db:          GeoLite2-ASN" in result.output
    assert "anonymous-ip db: GeoIP2-Anonymous-IP" in result.output
    assert "anonymizers.txt: 7 entries (tor/vpn/proxy/hosting)" in result.output
    assert "country:         US" in lines
    assert "subdivision:     US-CA" in lines
    assert "city:            Los Angeles" in lines
    assert "coordinates:     34.0500, -118.2400 (accuracy 20 km)" in lines
    assert "asn:             AS64512 Los Angeles Broadband (fixture)" in lines
    assert "anonymizer:      none (in no list and no anonymous-IP database)" in lines


def test_check_ipv6(config: Path) -> None:
    result = check(FRANKFURT_V6, config)
    assert result.exit_code == 0
    assert "city:            Frankfurt" in result.output.splitlines()


def test_check_names_the_anonymizer_list(config: Path) -> None:
    result = check(LISTED_TOR, config)
    assert result.exit_code == 0
    assert "anonymizer:      tor: Tor exit node per anonymizers.txt" in result.output
    assert "documentation range" in result.output
    assert "location:        not in the city database" in result.output


def test_check_names_the_anonymous_ip_database(config: Path) -> None:
    result = check(DB_TOR, config)
    assert "anonymizer:      tor: Tor exit node per GeoIP2-Anonymous-IP.mmdb" in result.output


def test_check_explains_private_and_reserved_addresses(config: Path) -> None:
    assert ("result:          private (RFC 1918) address: no location and no flag"
            in check("192.168.1.20", config).output)
    assert "loopback address: no location and no flag" in check("::1", config).output
    assert "carrier-grade NAT" in check("100.64.3.3", config).output


def test_check_unknown_public_address(config: Path) -> None:
    result = check(UNKNOWN_PUBLIC, config)
    assert "location:        not in the city database" in result.output


def test_check_rejects_text_that_is_not_an_ip(config: Path) -> None:
    result = check("example.com", config)
    assert result.exit_code == 2
    assert "not an IPv4 or IPv6 address" in result.output


def test_check_without_any_database_says_geo_checks_are_off(tmp_path: Path) -> None:
    result = check(LOS_ANGELES, write_config(tmp_path / "empty"))
    assert result.exit_code == 0
    assert ("status:          geo checks off: no city database (set [geo] city_db or put "
            "GeoLite2-City.mmdb in /usr/share/GeoIP)") in result.output
    assert "city db:         none" in result.output
    assert "location:        unknown: geo checks off (no city database)" in result.output


def test_check_discovers_databases_in_the_config_folder(tmp_path: Path,
                                                        geo_dbs: dict[str, Path]) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    shutil.copy(geo_dbs["city"], folder / "GeoLite2-City.mmdb")
    result = check(LOS_ANGELES, write_config(folder))
    assert f"city db:         GeoLite2-City ({folder / 'GeoLite2-City.mmdb'}" in result.output
    assert "asn db:          none" in result.output


def test_check_reports_a_missing_configured_database(tmp_path: Path) -> None:
    result = check(LOS_ANGELES, write_config(tmp_path / "etc", 'city_db = "gone.mmdb"\n'))
    assert result.exit_code == 0
    assert "geo checks off: city database" in result.output
    assert "gone.mmdb: no such file" in result.output


def test_feeds_update_without_feeds(tmp_path: Path) -> None:
    result = CliRunner().invoke(feeds, ["update", "--config", str(write_config(tmp_path))])
    assert result.exit_code == 0
    assert "no feeds configured" in result.output
