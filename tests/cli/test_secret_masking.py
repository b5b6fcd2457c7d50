"""Secrets never shown: every query value of a database or apprise URL (apprise's
`+Header=value` ones included) is masked with its key kept, and the notification
senders' log lines (apprise, urllib3) are masked at every level, debug included."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ottwatch.config import mask_url
from ottwatch.logs import setup_logging

TOKEN = "T0k3nSECRETabcdef123456"
BEARER = "B3arerSECRET987654"
DB_PASSWORD = "pgQueryPass77"
Ottwatch = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(("url", "secrets", "shown"), [
    (f"postgresql+psycopg://ott:hunter22@db.internal:5432/ott?password={DB_PASSWORD}"
     "&sslmode=require&sslkey=/etc/k.pem",
     ["hunter22", DB_PASSWORD, "require", "/etc/k.pem"],
     ["postgresql+psycopg://ott:***@db.internal:5432/ott?", "password=***", "sslkey=***"]),
    (f"json://127.0.0.1:8080/hook?+Authorization=Bearer%20{BEARER}&-token={TOKEN}",
     [BEARER, TOKEN], ["json://127.0.0.1:8080", "%2BAuthorization=***", "-token=***"]),
    (f"ops=json://user:pw9876543@hooks.example/x?+X-Api-Key={TOKEN}",
     ["pw9876543", TOKEN], ["ops=json://user:", "hooks.example", "X-Api-Key=***"]),
    (f"https://feeds.example/list.txt?license_key={TOKEN}&format=csv",
     [TOKEN, "csv"], ["https://feeds.example/list.txt?license_key=***&format=***"]),
])
def test_every_query_value_and_header_is_masked(url: str, secrets: list[str],
                                                shown: list[str]) -> None:
    masked = mask_url(url)
    assert not [s for s in secrets if s in masked], masked
    assert not [s for s in shown if s not in masked], masked


def test_config_check_masks_query_and_header_values(tmp_path: Path, ottwatch: Ottwatch) -> None:
    config = tmp_path / "ottwatch.toml"
    config.write_text(
        f'[storage]\nurl = "postgresql+psycopg://ott@db/ott?password={DB_PASSWORD}"\n'
        f'[alerts]\nurls = ["json://hooks.example/h?+Authorization=Bearer%20{BEARER}"]\n')
    for args in (["config", "check"], ["config", "check", "--json"]):
        done = ottwatch(*args, "--config", str(config))
        assert done.returncode == 0, done.stderr
        assert DB_PASSWORD not in done.stdout and BEARER not in done.stdout
        assert "password=***" in done.stdout and "Authorization=***" in done.stdout


class Hook(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.paths.append(f"{self.path} {self.headers.get('Authorization')}")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_alerts_test_at_debug_logs_apprise_lines_without_the_token(
        tmp_path: Path, ottwatch: Ottwatch, webhook: int) -> None:
    Hook.paths.clear()
    config = tmp_path / "ottwatch.toml"
    config.write_text(f'[log]\nlevel = "debug"\n[alerts]\nurls = ["json://127.0.0.1:{webhook}'
                      f'/hook/{TOKEN}?+Authorization=Bearer%20{BEARER}"]\n')
    done = ottwatch("alerts", "test", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert Hook.paths == [f"/hook/{TOKEN} Bearer {BEARER}"], "the real request carried both"
    assert "DEBUG apprise" in done.stderr and "JSON POST URL" in done.stderr
    assert "DEBUG urllib3" in done.stderr
    assert TOKEN not in done.stderr + done.stdout and BEARER not in done.stderr + done.stdout


@pytest.mark.parametrize("logger", ["apprise", "apprise.plugins", "urllib3.connectionpool"])
def test_sender_log_records_are_masked_at_every_level(
        logger: str, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("debug")
    try:
        log = logging.getLogger(logger)
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            log.log(level, "POST URL: %s", f"https://discord.com/api/webhooks/1234/{TOKEN}")
            log.log(level, '"POST /api/webhooks/1234/%s HTTP/1.1" 204', TOKEN)
            log.log(level, "headers: Authorization: Bearer %s", BEARER)
    finally:
        setup_logging("warning")
    err = capsys.readouterr().err
    assert err.count("POST") == 8 and err.count("Bearer") == 4, "masked, not dropped"
    assert TOKEN not in err and BEARER not in err


def test_json_config_check_output_is_json(tmp_path: Path, ottwatch: Ottwatch) -> None:
    config = tmp_path / "ottwatch.toml"
    config.write_text(f'[geo]\nfeed_urls = ["https://f.example/l?key={TOKEN}"]\n')
    done = ottwatch("config", "check", "--json", "--config", str(config))
    assert json.loads(done.stdout)["geo"]["feed_urls"] == ["https://f.example/l?key=***"]
