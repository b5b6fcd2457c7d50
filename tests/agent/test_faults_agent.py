"""The real `ottwatch agent` waits out a locked or full database: it keeps running,
logs one warning, alerts once, resumes by itself and stores every event once. A bug
still stops it, and nothing it prints quotes event data."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ottwatch.events import ts_to_text
from tests.alerts.conftest import Receiver

T0 = 1_767_225_600.0
FAULT_WARNING = "WARNING ottwatch.agent: storage fault:"
SOCKET_LINES = 100_000


def user_of(n: int) -> str:
    return f"user-secret-{n:05d}"


def ip_of(n: int) -> str:
    return f"198.51.100.{n % 250}"


def append_events(log: Path, start: int, count: int) -> list[str]:
    ids = [f"fault-{n:05d}" for n in range(start, start + count)]
    with log.open("ab") as out:
        out.write(b"".join(orjson.dumps({
            "event_id": event_id, "timestamp": ts_to_text(T0 + n), "user_id": user_of(n),
            "event_type": "login", "ip_address": ip_of(n), "device_id": f"dev-{n}",
        }) + b"\n" for n, event_id in enumerate(ids, start)))
    return ids


def assert_no_event_data(stderr: str, count: int) -> None:
    for n in range(count):
        assert user_of(n) not in stderr and f"fault-{n:05d}" not in stderr, stderr[-3000:]
    assert "198.51.100." not in stderr, stderr[-3000:]


def hold_exclusive_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_lock_held_past_the_busy_timeout_is_waited_out(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any):
    log, db = tmp_path / "events.jsonl", open_db(tmp_path / "agent.db")
    expected = append_events(log, 0, 50)
    agent = agent_process(str(log), "--db", str(db.path), "--log-level", "info")
    agent.wait_for(lambda: db.count() == 50, what="the first 50 events stored")

    holder = hold_exclusive_lock(db.path)
    try:
        expected += append_events(log, 50, 150)
        agent.wait_for_log("storage fault: database locked since", timeout=60)
        time.sleep(3)  # several retries of the same batch
        agent.assert_alive()
        assert db.count() == 50
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    agent.wait_for(lambda: db.count() == 200, what="the held-back events stored")
    agent.wait_for_log("storage fault cleared: database locked")
    expected += append_events(log, 200, 10)  # and it goes on ingesting
    agent.wait_for(lambda: db.count() == 210, what="events appended after the fault")
    assert agent.stop() == 0
    db.assert_stored_once(expected)
    stderr = agent.stderr()
    assert stderr.count(FAULT_WARNING) == 1, stderr
    assert "Traceback" not in stderr
    assert_no_event_data(stderr, 210)


def test_a_stop_during_a_fault_exits_without_data_and_a_restart_stores_everything(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any):
    log, db = tmp_path / "events.jsonl", open_db(tmp_path / "agent.db")
    expected = append_events(log, 0, 20)
    agent = agent_process(str(log), "--db", str(db.path), "--log-level", "info")
    agent.wait_for(lambda: db.count() == 20, what="the first events stored")
    holder = hold_exclusive_lock(db.path)
    try:
        expected += append_events(log, 20, 80)
        agent.wait_for_log("storage fault: database locked since", timeout=60)
        agent.signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=15) == 1  # it could not drain: not a clean stop
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    stderr = agent.stderr()
    assert "stopped while waiting out a storage fault: database locked since" in stderr
    assert "Traceback" not in stderr
    assert_no_event_data(stderr, 100)

    again = agent_process(str(log), "--db", str(db.path))
    again.wait_for(lambda: db.count() == 100, what="the rest stored after a restart")
    assert again.stop() == 0
    db.assert_stored_once(expected)


def test_a_full_database_is_waited_out_and_alerted_once(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any):
    receiver = Receiver()
    try:
        _full_database_scenario(tmp_path, agent_process, open_db, receiver)
    finally:
        receiver.refuse()


def _full_database_scenario(tmp_path: Path, agent_process: Callable[..., Any], open_db: Any,
                            receiver: Receiver) -> None:
    log, db, flag = tmp_path / "events.jsonl", open_db(tmp_path / "agent.db"), tmp_path / "full"
    config = tmp_path / "agent.toml"
    config.write_text(f'[alerts]\nurls = ["chat={receiver.url("chat")}"]\n'
                      f"refresh_s = 0.2\nsender_poll_s = 0.2\n", encoding="utf-8")
    expected = append_events(log, 0, 20)
    agent = agent_process(str(log), "--db", str(db.path), "--log-level", "info",
                          config=config, env={"OTTWATCH_TEST_DISK_FULL_FLAG": str(flag)})
    agent.wait_for(lambda: db.count() == 20, what="the first events stored")

    def fault_alerts() -> Counter[str]:
        return Counter(p["title"] for p in receiver.received("chat")
                       if "storage.fault" in p.get("title", ""))

    flag.touch()
    expected += append_events(log, 20, 3000)
    agent.wait_for_log("storage fault: database or disk full since", timeout=60)
    agent.wait_for(fault_alerts, what="the storage fault alert at the receiver")
    time.sleep(3)
    agent.assert_alive()
    assert db.count() == 20
    [(title, copies)] = fault_alerts().items()
    assert copies == 1 and "database or disk full since" in title

    flag.unlink()
    agent.wait_for(lambda: db.count() == 3020, what="the held-back events stored")
    agent.wait_for_log("storage fault cleared: database or disk full")
    record = agent.wait_for(lambda: db.rows(
        "SELECT severity, title FROM alerts WHERE codes LIKE '%storage.fault%'"),
        what="the fault recorded in the alert store")
    assert record[0][0] == "low" and "cleared after" in record[0][1]
    assert agent.stop() == 0
    assert sum(fault_alerts().values()) == 1  # the record was not sent again
    db.assert_stored_once(expected)
    stderr = agent.stderr()
    assert stderr.count(FAULT_WARNING) == 1, stderr
    assert_no_event_data(stderr, 3020)


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, or a skip where mounting is not allowed (most CI)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs",
                               str(mount)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return filler
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def test_a_full_filesystem_is_waited_out_until_space_is_freed(
        tmp_path: Path, small_filesystem: Path, agent_process: Callable[..., Any],
        open_db: Any):
    log, db = tmp_path / "events.jsonl", open_db(small_filesystem / "agent.db")
    expected = append_events(log, 0, 20)
    agent = agent_process(str(log), "--db", str(db.path), "--log-level", "info")
    agent.wait_for(lambda: db.count() == 20, what="the first events stored")

    filler = fill(small_filesystem)
    expected += append_events(log, 20, 3000)
    agent.wait_for_log(FAULT_WARNING, timeout=60)
    time.sleep(3)
    agent.assert_alive()
    assert db.count() == 20

    filler.unlink()
    agent.wait_for(lambda: db.count() == 3020, what="the held-back events stored")
    agent.wait_for_log("storage fault cleared")
    assert agent.stop() == 0
    db.assert_stored_once(expected)
    stderr = agent.stderr()
    assert stderr.count(FAULT_WARNING) == 1, stderr
    assert_no_event_data(stderr, 3020)


def test_a_bug_still_stops_the_agent_and_its_traceback_quotes_no_event_data(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any):
    log, db = tmp_path / "events.jsonl", open_db(tmp_path / "agent.db")
    append_events(log, 0, 10)
    agent = agent_process(str(log), "--db", str(db.path))
    agent.wait_for(lambda: db.count() == 10, what="the first events stored")
    with sqlite3.connect(db.path, timeout=30) as conn:  # not a fault: a schema it cannot use
        conn.execute("ALTER TABLE events RENAME TO events_moved")
    append_events(log, 10, 40)
    assert agent.proc.wait(timeout=60) == 1
    stderr = agent.stderr()
    assert "CRITICAL ottwatch.agent: agent failed: OperationalError" in stderr
    assert "no such table: events" in stderr and "Traceback" in stderr
    assert_no_event_data(stderr, 50)


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's (a short path: AF_UNIX limit)."""
    with tempfile.TemporaryDirectory(prefix="ow-faults-") as folder:
        path = os.path.join(folder, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        try:
            yield sock, path
        finally:
            sock.close()


def messages_until(sock: socket.socket, done: Callable[[str], bool], timeout: float = 60.0
                   ) -> list[str]:
    deadline = time.monotonic() + timeout
    messages: list[str] = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if done(messages[-1]):
            return messages
    raise AssertionError(f"not seen within {timeout}s; got {messages}")


def test_systemd_hears_paused_and_the_watchdog_is_kept_while_the_fault_lasts(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any,
        notify_socket: tuple[socket.socket, str]):
    sock, address = notify_socket
    log, db = tmp_path / "events.jsonl", open_db(tmp_path / "agent.db")
    append_events(log, 0, 20)
    agent = agent_process(str(log), "--db", str(db.path),
                          env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
    messages_until(sock, lambda m: "READY=1" in m)
    agent.wait_for(lambda: db.count() == 20, what="the first events stored")
    holder = hold_exclusive_lock(db.path)
    try:
        append_events(log, 20, 30)
        [paused] = [m for m in messages_until(sock, lambda m: "STATUS=paused" in m)
                    if "STATUS=paused" in m]
        assert paused.startswith("STATUS=paused: storage fault (database locked since")
        pinged = time.monotonic()
        while_paused = messages_until(
            sock, lambda m: m == "WATCHDOG=1" and time.monotonic() - pinged > 3.5)
        assert while_paused.count("WATCHDOG=1") >= 3  # every second (half of WATCHDOG_USEC)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    messages_until(sock, lambda m: m.startswith("STATUS=ingesting into"))
    agent.wait_for(lambda: db.count() == 50, what="the held-back events stored")
    assert agent.stop() == 0


def test_socket_clients_are_held_back_not_dropped_while_a_lock_lasts(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int):
    db = open_db(tmp_path / "agent.db")
    lines = tmp_path / "lines.jsonl"
    expected = append_events(lines, 0, SOCKET_LINES)  # more than the queue and the buffers
    config = tmp_path / "agent.toml"
    config.write_text("[ingest]\nqueue_chunks = 2\n", encoding="utf-8")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--db", str(db.path),
                          "--log-level", "info", config=config)
    agent.wait_for_log("agent ready")
    holder = hold_exclusive_lock(db.path)
    sent = threading.Event()

    def send() -> None:
        with socket.create_connection(("127.0.0.1", free_port), timeout=120) as client:
            client.sendall(lines.read_bytes())  # blocks while the agent does not read
        sent.set()

    sender = threading.Thread(target=send, daemon=True)
    try:
        sender.start()
        agent.wait_for_log("storage fault: database locked since", timeout=60)
        time.sleep(2)
        assert db.count() == 0
        assert not sent.is_set(), "the client was not held back"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    agent.wait_for(lambda: db.count() == SOCKET_LINES, 120, what="every line the client sent")
    assert sent.wait(30)
    sender.join(10)
    assert agent.stop() == 0
    db.assert_stored_once(expected)
    assert agent.stderr().count(FAULT_WARNING) == 1
