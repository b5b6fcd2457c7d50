"""Signals and systemd: SIGTERM drains and checkpoints, SIGHUP reloads the config,
$NOTIFY_SOCKET hears READY, WATCHDOG and STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.generator import generate, write_log

RECV_TIMEOUT_S = 30.0


def ids_before(path: Path, offset: int) -> list[str]:
    with open(path, "rb") as handle:
        head = handle.read(offset)
    assert head == b"" or head.endswith(b"\n"), "a checkpoint is at the start of a line"
    return [orjson.loads(line)["event_id"] for line in head.splitlines()]


def test_sigterm_drains_and_checkpoints_what_it_stored(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    log = tmp_path / "app.jsonl"
    write_log(log, 100_000, seed=51, users=500)
    db = open_db(tmp_path / "agent.db")
    config = tmp_path / "ottwatch.toml"
    # A short read-ahead, so that the stop lands mid-file (a drain stores what was read).
    config.write_text("[ingest]\nqueue_chunks = 2\n", encoding="utf-8")
    agent = agent_process(str(log), "--db", str(db.path), "--log-level", "info",
                          "--config", str(config))
    agent.wait_for(lambda: db.count() >= 15_000, what="15000 stored events")
    assert agent.stop() == 0, agent.stderr()
    assert "draining" in agent.stderr()
    assert "agent stopped" in agent.stderr()

    checkpoint = db.checkpoint(log)
    assert checkpoint is not None and checkpoint[0] == log.stat().st_ino
    stored = db.count()
    assert stored < 100_000, "stopped before the end, or this proves nothing"
    db.assert_stored_once(ids_before(log, checkpoint[1]))

    agent = agent_process(str(log), "--db", str(db.path))
    agent.wait_for(lambda: db.checkpoint(log) == (log.stat().st_ino, log.stat().st_size)
                   and db.count() == 100_000, what="the rest after the restart")
    assert agent.stop() == 0
    db.assert_stored_once(ids_before(log, log.stat().st_size))


def write_config(path: Path, *, db: Path, files: list[Path], level: str) -> None:
    file_list = ", ".join(f'"{f}"' for f in files)
    path.write_text(f'[storage]\nurl = "sqlite:///{db}"\n\n[sources]\nfiles = [{file_list}]\n\n'
                    f'[log]\nlevel = "{level}"\n', encoding="utf-8")


def info_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " INFO " in line]


def test_sighup_reloads_log_level_and_files(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    first = tmp_path / "a" / "first.jsonl"
    second = tmp_path / "b" / "second.jsonl"  # another folder, not watched before the reload
    first.parent.mkdir()
    second.parent.mkdir()
    lines = [line + b"\n" for line in generate(3000, seed=52, users=100)]
    first.write_bytes(b"".join(lines[:1000]))
    second.write_bytes(b"".join(lines[1000:2000]))
    db = open_db(tmp_path / "agent.db")
    config = tmp_path / "ottwatch.toml"
    write_config(config, db=db.path, files=[first], level="warning")

    agent = agent_process("--config", str(config))
    agent.wait_for(lambda: db.count() == 1000, what="the first file")
    assert info_lines(agent.stderr()) == [], "warning level: no info lines yet"

    config.write_text("[log\nlevel = ", encoding="utf-8")
    agent.signal(signal.SIGHUP)
    agent.wait_for_log("config not reloaded")
    agent.assert_alive()

    write_config(config, db=db.path, files=[first, second], level="info")
    agent.signal(signal.SIGHUP)
    agent.wait_for_log("configuration reloaded")
    agent.wait_for(lambda: db.count() == 2000, what="the second file's events")
    agent.wait_for(lambda: any(f"following {second}" in line
                               for line in info_lines(agent.stderr())),
                   what="an info line after the reload")
    with open(second, "ab") as out:
        out.write(b"".join(lines[2000:]))
    agent.wait_for(lambda: db.count() == 3000, what="lines appended to the second file")
    assert agent.stop() == 0
    db.assert_stored_once([orjson.loads(line)["event_id"] for line in lines])


def test_sighup_keeps_command_line_overrides(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = [line + b"\n" for line in generate(200, seed=54, users=20)]
    (folder / "a.jsonl").write_bytes(b"".join(lines[:100]))
    db = open_db(tmp_path / "agent.db")
    config = tmp_path / "ottwatch.toml"
    config.write_text('[log]\nlevel = "warning"\n', encoding="utf-8")
    agent = agent_process(str(folder / "*.jsonl"), "--db", str(db.path), "--log-level", "info",
                          "--config", str(config))
    agent.wait_for(lambda: db.count() == 100, what="the first file")
    agent.signal(signal.SIGHUP)
    log_text = agent.wait_for_log("configuration reloaded")
    assert "url changed" not in log_text, "--db still applies after a reload"
    (folder / "b.jsonl").write_bytes(b"".join(lines[100:]))
    agent.wait_for(lambda: db.count() == 200, 15, what="a new file matching the CLI glob")
    assert f"following {folder / 'b.jsonl'}" in agent.stderr(), "--log-level info still applies"
    assert agent.stop() == 0


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's (a short path: AF_UNIX limit)."""
    with tempfile.TemporaryDirectory(prefix="ow-notify-") as folder:
        path = os.path.join(folder, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(RECV_TIMEOUT_S)
        try:
            yield sock, path
        finally:
            sock.close()


def receive_until(sock: socket.socket, wanted: str, timeout: float = RECV_TIMEOUT_S
                  ) -> list[str]:
    """Messages received until one has the line `wanted` (that one included)."""
    deadline = time.monotonic() + timeout
    messages = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            break
        messages.append(message)
        if wanted in message.splitlines():
            return messages
    raise AssertionError(f"no {wanted!r} within {timeout}s; got {messages}")


def test_systemd_notify_ready_watchdog_stopping(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any,
        notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    log = tmp_path / "app.jsonl"
    write_log(log, 500, seed=53, users=20)
    db = open_db(tmp_path / "agent.db")
    agent = agent_process(str(log), "--db", str(db.path),
                          env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
    ready = receive_until(sock, "READY=1")
    assert len(ready) == 1, "READY=1 is the first message"
    assert any(line.startswith("STATUS=") for line in ready[0].splitlines())
    receive_until(sock, "WATCHDOG=1")
    agent.wait_for(lambda: db.count() == 500, what="the file's events")
    agent.signal(signal.SIGTERM)
    receive_until(sock, "STOPPING=1")
    assert agent.stop() == 0
