from __future__ import annotations

import os
from pathlib import Path

import pytest

from ottwatch.geo.anonymizers import AnonymizerMatch, AnonymizerSet
from ottwatch.geo.listfile import kind_from_name, parse_list
from ottwatch.geo.ranges import RangeTable

from .helpers import LISTED_TOR, LISTED_TOR_V6, LISTED_VPN_CIDR, LISTED_VPN_V6_CIDR


def bump_mtime(path: Path, seconds: int = 10) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_fixture_list_hits_v4_v6_cidr_and_range(anonymizers: AnonymizerSet) -> None:
    source = "anonymizers.txt"
    assert anonymizers.match(LISTED_TOR) == AnonymizerMatch("tor", source)
    assert anonymizers.match(LISTED_TOR_V6) == AnonymizerMatch("tor", source)
    assert anonymizers.match(LISTED_VPN_CIDR) == AnonymizerMatch("vpn", source)
    assert anonymizers.match(LISTED_VPN_V6_CIDR) == AnonymizerMatch("vpn", source)
    assert anonymizers.match("192.0.2.45") == AnonymizerMatch("hosting", source)  # a-b range
    assert anonymizers.match("192.0.2.200") == AnonymizerMatch("proxy", source)
    assert anonymizers.match(f"::ffff:{LISTED_TOR}") == AnonymizerMatch("tor", source)


@pytest.mark.parametrize("ip", ["192.0.2.12", "192.0.2.127", "192.0.2.192", "2001:db8:9::1",
                                "23.10.4.4", "nonsense"])
def test_addresses_not_listed(anonymizers: AnonymizerSet, ip: str) -> None:
    assert anonymizers.match(ip) is None


def test_special_purpose_addresses_never_match(tmp_path: Path) -> None:
    listed = tmp_path / "vpn.txt"
    listed.write_text("10.0.0.0/8\nfd00::/8\n198.51.100.0/24\n")
    lists = AnonymizerSet([listed])
    assert lists.match("10.1.2.3") is None
    assert lists.match("fd00::1") is None
    assert lists.match("198.51.100.9") == AnonymizerMatch("vpn", "vpn.txt")


def test_kind_from_file_name_header_prefix_and_default(tmp_path: Path) -> None:
    (tmp_path / "tor-exits.txt").write_text("192.0.2.1\n")
    (tmp_path / "ranges.txt").write_text("# kind: vpn\n192.0.2.2\nhosting 192.0.2.3\n")
    (tmp_path / "misc.txt").write_text("192.0.2.4  # no kind anywhere\n")
    (tmp_path / "exit-addresses").write_text(
        "ExitNode 0011\nPublished 2026-11-01 00:00:00\nExitAddress 192.0.2.5 2026-11-01 01:00:00\n")
    lists = AnonymizerSet(sorted(tmp_path.iterdir()))
    assert lists.match("192.0.2.1") == AnonymizerMatch("tor", "tor-exits.txt")
    assert lists.match("192.0.2.2") == AnonymizerMatch("vpn", "ranges.txt")
    assert lists.match("192.0.2.3") == AnonymizerMatch("hosting", "ranges.txt")
    assert lists.match("192.0.2.4") == AnonymizerMatch("proxy", "misc.txt")
    assert lists.match("192.0.2.5") == AnonymizerMatch("tor", "exit-addresses")


def test_line_formats_and_skipped_lines() -> None:
    parsed = parse_list("""
        # comment
        192.0.2.1, 192.0.2.2            # only the first address of a line counts
        tor:2001:db8::1
        vpn=198.51.100.0/25
        HOSTING 203.0.113.0/24
        203.0.113.7-203.0.113.9
        192.0.2.300
        example.com
        192.0.2.9-2001:db8::1
    """)
    assert [(e.kind, e.text) for e in parsed.entries] == [
        (None, "192.0.2.1"), ("tor", "2001:db8::1"), ("vpn", "198.51.100.0/25"),
        ("hosting", "203.0.113.0/24"), (None, "203.0.113.7-203.0.113.9")]
    assert parsed.skipped == 3


def test_kind_from_name_does_not_match_inside_words() -> None:
    assert kind_from_name("tor-exits.txt") == "tor"
    assert kind_from_name("torbulkexitlist") == "tor"
    assert kind_from_name("nordvpn_servers.lst") == "vpn"
    assert kind_from_name("datacenter.txt") == "hosting"
    assert kind_from_name("history.txt") is None
    assert kind_from_name("storage.txt") is None


def test_overlaps_take_the_most_telling_kind(tmp_path: Path) -> None:
    hosting = tmp_path / "hosting.txt"
    hosting.write_text("192.0.2.0/24\n")
    tor = tmp_path / "tor.txt"
    tor.write_text("192.0.2.77\n")
    lists = AnonymizerSet([hosting, tor])
    assert lists.match("192.0.2.76") == AnonymizerMatch("hosting", "hosting.txt")
    assert lists.match("192.0.2.77") == AnonymizerMatch("tor", "tor.txt")
    assert lists.match("192.0.2.78") == AnonymizerMatch("hosting", "hosting.txt")


def test_range_table_sweep_is_disjoint_and_merged() -> None:
    table = RangeTable([(10, 20, 1), (15, 30, 0), (31, 40, 0), (50, 50, 2)])
    assert len(table) == 3  # [10,14]:1, [15,40]:0 merged, [50,50]:2
    assert [table.find(v) for v in (9, 10, 14, 15, 30, 31, 40, 41, 50, 51)] == [
        None, 1, 1, 0, 0, 0, 0, None, 2, None]


def test_reload_when_the_file_changes(anonymizer_file: Path) -> None:
    lists = AnonymizerSet([anonymizer_file], check_every_s=5.0)
    assert lists.match("192.0.2.99") is None
    version = lists.version
    with anonymizer_file.open("a") as out:
        out.write("tor 192.0.2.99\nvpn 2001:db8:42::/64\n")
    bump_mtime(anonymizer_file)

    assert lists.refresh(now=1000.0)  # first check: changed since load
    assert lists.match("192.0.2.99") == AnonymizerMatch("tor", "anonymizers.txt")
    assert lists.match("2001:db8:42::7") == AnonymizerMatch("vpn", "anonymizers.txt")
    assert lists.version == version + 1

    anonymizer_file.write_text("proxy 192.0.2.99\n")
    bump_mtime(anonymizer_file, 20)
    assert not lists.refresh(now=1003.0)  # not due yet: no I/O, old answer
    assert lists.match("192.0.2.99") == AnonymizerMatch("tor", "anonymizers.txt")
    assert lists.refresh(now=1005.0)
    assert lists.match("192.0.2.99") == AnonymizerMatch("proxy", "anonymizers.txt")
    assert lists.match(LISTED_TOR) is None
    assert not lists.refresh(now=1010.0)  # due, but nothing changed


def test_folder_lists_pick_up_new_and_removed_files(tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    lists = AnonymizerSet([folder], check_every_s=1.0)
    assert len(lists) == 0 and "No such file" in lists.describe()
    folder.mkdir()
    (folder / "tor-1.txt").write_text("192.0.2.1\n")
    (folder / ".tor-2.txt.tmp").write_text("192.0.2.2\n")  # a write in progress
    assert lists.refresh(now=0.0)
    assert lists.match("192.0.2.1") == AnonymizerMatch("tor", "tor-1.txt")
    assert lists.match("192.0.2.2") is None
    (folder / "tor-1.txt").unlink()
    assert lists.refresh(now=2.0)
    assert lists.match("192.0.2.1") is None


def test_missing_list_is_reported_and_loaded_once_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "vpn.txt"
    lists = AnonymizerSet([path])
    assert lists.lists[0].error is not None
    path.write_text("192.0.2.1\n")
    assert lists.refresh(now=0.0)
    assert lists.lists[0].error is None and lists.entries == 1
    assert "1 entries (vpn)" in lists.describe()


def test_default_kind_must_be_known() -> None:
    with pytest.raises(ValueError):
        AnonymizerSet(default_kind="spy")
