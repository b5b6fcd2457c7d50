from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ottwatch.commands.common import load
from ottwatch.commands.geo import feeds
from ottwatch.config import Config, mask_url
from ottwatch.geo.anonymizers import AnonymizerMatch
from ottwatch.geo.feeds import Feed
from ottwatch.geo.paths import feeds_folder
from ottwatch.geo.setup import open_anonymizers

TOR_LIST = b"192.0.2.10\n192.0.2.11\n2001:db8:7::10\n"
MIXED_LIST = b"""# a vendor list
vpn 198.51.100.0/25
hosting 203.0.113.0/24   # datacenter
not-an-address
2001:db8:8::/48
"""
SECRET = "s3cret-password"
TOKEN = "hunter2-token"


class Routes:
    """What the local server answers, by path; tests change it between runs."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, bytes]] = {
            "/lists/tor-exits.txt": (200, TOR_LIST),
            "/lists/mixed": (200, MIXED_LIST),
        }
        self.requests: list[str] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Routes]]:
    routes = Routes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes.requests.append(self.path)
            status, body = routes.pages.get(self.path.split("?", 1)[0], (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def write_config(folder: Path, urls: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ottwatch.toml"
    listed = ", ".join(f'"{url}"' for url in urls)
    path.write_text(f'[storage]\nurl = "sqlite:///{folder}/state/ottwatch.db"\n\n'
                    f"[geo]\nfeed_urls = [{listed}]\n")
    return path


def update(config: Path) -> Result:
    return CliRunner().invoke(feeds, ["update", "--config", str(config)])


def feed_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "state" / "feeds").iterdir())}


def test_update_writes_private_files_and_reports_counts(
        tmp_path: Path, server: tuple[str, Routes]) -> None:
    base, routes = server
    config = write_config(tmp_path, [f"{base}/lists/tor-exits.txt", f"{base}/lists/mixed"])
    result = update(config)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "state" / "feeds"
    tor, mixed = Feed.parse(f"{base}/lists/tor-exits.txt"), Feed.parse(f"{base}/lists/mixed")
    first, second = mask_url(f"{base}/lists/tor-exits.txt"), mask_url(f"{base}/lists/mixed")
    assert f"feed 1 ({first}): 3 entries -> " + str(folder / tor.file_name) in result.output
    assert f"feed 2 ({second}): 3 entries, 1 lines skipped" in result.output
    assert f"2 of 2 feeds updated, 6 entries in {folder}" in result.output

    files = feed_files(tmp_path)
    assert set(files) == {tor.file_name, mixed.file_name}
    assert tor.file_name.startswith("tor-") and mixed.file_name.startswith("feed-")
    assert files[tor.file_name].splitlines()[2:] == [
        "# kind: tor", "192.0.2.10", "192.0.2.11", "2001:db8:7::10"]
    assert files[mixed.file_name].splitlines()[2:] == [
        "vpn 198.51.100.0/25", "hosting 203.0.113.0/24", "2001:db8:8::/48"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left
    assert sorted(routes.requests) == ["/lists/mixed", "/lists/tor-exits.txt"]


def test_the_agent_lists_include_the_fetched_feeds(tmp_path: Path,
                                                   server: tuple[str, Routes]) -> None:
    base, _ = server
    config = write_config(tmp_path, [f"{base}/lists/tor-exits.txt", f"{base}/lists/mixed"])
    assert update(config).exit_code == 0
    lists = open_anonymizers(load(str(config)))
    tor = Feed.parse(f"{base}/lists/tor-exits.txt").file_name
    assert lists.match("192.0.2.11") == AnonymizerMatch("tor", tor)
    assert lists.match("2001:db8:7::10") == AnonymizerMatch("tor", tor)
    assert lists.match("203.0.113.50").kind == "hosting"
    assert lists.match("2001:db8:8::1").kind == "proxy"  # the mixed feed names no kind here


def test_credentials_never_reach_output_logs_or_file_names(
        tmp_path: Path, server: tuple[str, Routes], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    base, routes = server
    secret_base = base.replace("http://", f"http://reader:{SECRET}@")
    urls = [f"tor={secret_base}/lists/mixed?key={TOKEN}",
            f"{secret_base}/missing?key={TOKEN}"]
    result = update(write_config(tmp_path, urls))
    assert result.exit_code == 1  # one feed failed
    assert SECRET not in result.output and TOKEN not in result.output
    assert f"feed 1 ({mask_url(urls[0])}): 3 entries" in result.output
    assert f"feed 2 ({mask_url(urls[1])}): failed, HTTP 404 Not Found; no previous file" \
        in result.output
    assert "reader:***@" in result.output and "key=***" in result.output
    files = feed_files(tmp_path)
    assert [name.split("-")[0] for name in files] == ["tor"]
    for name, text in files.items():
        assert SECRET not in name + text and TOKEN not in name + text
    assert f"/lists/mixed?key={TOKEN}" in routes.requests  # the real URL was used


def test_a_failed_or_empty_feed_keeps_the_previous_file(tmp_path: Path,
                                                        server: tuple[str, Routes]) -> None:
    base, routes = server
    config = write_config(tmp_path, [f"{base}/lists/tor-exits.txt"])
    assert update(config).exit_code == 0
    before = feed_files(tmp_path)

    routes.pages["/lists/tor-exits.txt"] = (503, b"busy")
    result = update(config)
    assert result.exit_code == 1
    assert "failed, HTTP 503 Service Unavailable; kept" in result.output
    assert feed_files(tmp_path) == before

    routes.pages["/lists/tor-exits.txt"] = (200, b"<html>maintenance</html>\n")
    result = update(config)
    assert result.exit_code == 1
    assert "no IPs or CIDRs in the answer (1 other lines)" in result.output
    assert feed_files(tmp_path) == before


def test_unreachable_feed_is_reported(tmp_path: Path, server: tuple[str, Routes]) -> None:
    base, _ = server
    closed = "http://127.0.0.1:9/lists/tor.txt"  # discard port: nothing listens
    result = update(write_config(tmp_path, [closed, f"{base}/lists/tor-exits.txt"]))
    assert result.exit_code == 1
    assert f"feed 1 ({mask_url(closed)}): failed, ConnectError" in result.output
    assert "1 of 2 feeds updated, 3 entries" in result.output


def test_feeds_removed_from_the_config_are_pruned(tmp_path: Path,
                                                  server: tuple[str, Routes]) -> None:
    base, _ = server
    assert update(write_config(tmp_path, [f"{base}/lists/tor-exits.txt",
                                          f"{base}/lists/mixed"])).exit_code == 0
    (tmp_path / "state" / "feeds" / "operator-notes.txt").write_text("keep me\n")
    result = update(write_config(tmp_path, [f"{base}/lists/mixed"]))
    assert result.exit_code == 0
    assert "is no longer in [geo] feed_urls" in result.output
    assert set(feed_files(tmp_path)) == {Feed.parse(f"{base}/lists/mixed").file_name,
                                         "operator-notes.txt"}


def test_feed_kind_from_prefix_or_path() -> None:
    assert Feed.parse("vpn=https://example.org/list").kind == "vpn"
    assert Feed.parse("https://check.torproject.org/torbulkexitlist").kind == "tor"
    assert Feed.parse("https://example.org/history.txt").kind is None
    assert Feed.parse("https://example.org/a") != Feed.parse("https://example.org/b")
    assert (Feed.parse("https://example.org/a").file_name
            != Feed.parse("https://example.org/b").file_name)


@pytest.mark.parametrize(("url", "folder"), [
    ("sqlite:////srv/ottwatch/ottwatch.db", "/srv/ottwatch/feeds"),
    ("sqlite+pysqlite:////srv/o/x.db?timeout=5", "/srv/o/feeds"),
])
def test_feeds_live_next_to_a_sqlite_database(url: str, folder: str) -> None:
    config = Config()
    config.storage.url = url
    assert feeds_folder(config) == Path(folder)


def test_feeds_folder_without_a_sqlite_file_is_a_state_folder() -> None:
    config = Config()
    config.storage.url = "postgresql+psycopg://ottwatch@db/ottwatch"
    assert feeds_folder(config).name == "feeds"
    assert feeds_folder(config).parent.name == "ottwatch"
