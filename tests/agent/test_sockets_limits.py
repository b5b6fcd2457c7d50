"""Socket clients cannot starve the others: slow-loris connections on every slot, one
peer taking every slot, `{`-prefixed garbage and byte floods are cut or refused while
good clients get through, each cut counted and logged without the data."""

from __future__ import annotations

import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.generator import generate
from tests.conftest import find_free_port, scrape

IO_TIMEOUT_S = 60.0
ADMISSION_PROBE_S = 1.0  # a refused connection is closed by the agent at once
LORIS_COUNT = 64


def write_config(tmp_path: Path, **sources: float) -> Path:
    path = tmp_path / "ottwatch.toml"
    path.write_text("[sources]\n" + "".join(f"{k} = {v}\n" for k, v in sources.items()),
                    encoding="utf-8")
    return path


def tcp_client(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT_S)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def unix_client(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT_S)
    sock.connect(str(path))
    return sock


def closed_by_agent(sock: socket.socket, wait: float) -> bool:
    """The agent never writes: a readable socket is one it closed (refused or cut)."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


def admitted(sock: socket.socket) -> bool:
    return not closed_by_agent(sock, ADMISSION_PROBE_S)


def finish(sock: socket.socket, data: bytes) -> None:
    """Send everything, then wait for the agent to close after reading it all."""
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    sock.close()


def send_ignoring_cut(sock: socket.socket, data: bytes) -> None:
    try:
        finish(sock, data)
    except OSError:  # cut off: reset or broken pipe
        sock.close()


def lines_of(events: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in events)


def ids_of(events: list[bytes]) -> list[str]:
    return [orjson.loads(line)["event_id"] for line in events]


def cut_lines(log_text: str, reason: str) -> list[str]:
    return [line for line in log_text.splitlines() if f"connection cut off ({reason})" in line]


def socket_stats(db: Any) -> dict[str, int]:
    rows = db.rows("SELECT info FROM heartbeat WHERE name = 'agent'")
    return orjson.loads(rows[0][0]).get("sockets", {}) if rows else {}


class Loris(threading.Thread):
    """Open connections that each hold a line unfinished, a byte every half second,
    until the agent closes them; records when each was closed."""

    def __init__(self, socks: list[socket.socket]) -> None:
        super().__init__(daemon=True, name="loris")
        self.socks = socks
        self.closed_at: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        for sock in self.socks:
            self._send(sock, b'{"event_id": "loris-')
        while not self.stop.wait(0.5) and len(self.closed_at) < len(self.socks):
            for index, sock in enumerate(self.socks):
                if index not in self.closed_at:
                    if closed_by_agent(sock, 0) or not self._send(sock, b"x"):
                        self.closed_at[index] = time.monotonic()

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self.stop.set()
        self.join(IO_TIMEOUT_S)
        for sock in self.socks:
            sock.close()


@pytest.fixture
def loris_pack() -> Iterator[Callable[[list[socket.socket]], Loris]]:
    started: list[Loris] = []

    def start(socks: list[socket.socket]) -> Loris:
        loris = Loris(socks)
        loris.start()
        started.append(loris)
        return loris

    yield start
    for loris in started:
        loris.close()


class GoodClient(threading.Thread):
    """Sends its events over one connection; with `retry`, reconnects until admitted
    (as a log shipper does), else fails when refused."""

    def __init__(self, connect: Callable[[], socket.socket], events: list[bytes],
                 *, retry: bool) -> None:
        super().__init__(daemon=True)
        self.connect, self.events, self.retry = connect, events, retry
        self.attempts = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + IO_TIMEOUT_S
            while True:
                self.attempts += 1
                sock = self.connect()
                if admitted(sock):
                    break
                sock.close()
                if not self.retry or time.monotonic() > deadline:
                    raise ConnectionRefusedError(f"refused after {self.attempts} attempts")
                time.sleep(0.1)
            finish(sock, lines_of(self.events))
        except BaseException as exc:  # reported by the test thread
            self.error = exc


def run_good_clients(clients: list[GoodClient]) -> None:
    for client in clients:
        client.start()
    join_good_clients(clients)


def join_good_clients(clients: list[GoodClient]) -> None:
    for client in clients:
        client.join(IO_TIMEOUT_S + 10)
        assert not client.is_alive() and client.error is None, client.error


def test_slow_loris_on_every_slot_is_cut_and_good_clients_get_in(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int,
        loris_pack: Callable[[list[socket.socket]], Loris]) -> None:
    """Same address for all, so only the line timeout can free the slots."""
    config = write_config(tmp_path, max_connections=LORIS_COUNT,
                          max_connections_per_peer=LORIS_COUNT, line_timeout_s=2,
                          idle_timeout_s=30)
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--db", str(db.path),
                          "--log-level", "info", config=config)
    agent.wait_for_log("listening on tcp")
    loris = loris_pack([tcp_client(free_port) for _ in range(LORIS_COUNT)])

    events = list(generate(1000, seed=41, users=50))
    clients = [GoodClient(lambda: tcp_client(free_port), events[i * 100:(i + 1) * 100],
                          retry=True) for i in range(10)]
    started = time.monotonic()
    run_good_clients(clients)
    agent.wait_for(lambda: db.count() >= len(events), what="every good event stored")
    took = time.monotonic() - started
    assert took < 15, f"good clients waited {took:.1f}s"
    assert any(c.attempts > 1 for c in clients), "the loris never held every slot"

    log_text = agent.wait_for(
        lambda: len(cut_lines(agent.stderr(), "slow")) >= LORIS_COUNT and agent.stderr(),
        what="every loris cut")
    assert len(loris.closed_at) == LORIS_COUNT
    slow = cut_lines(log_text, "slow")
    assert all("WARNING" in line and "peer 127.0.0.1:" in line and "loris" not in line
               for line in slow), slow[:3]
    assert "refused, 64 connections already open" in log_text
    assert agent.stop() == 0
    db.assert_stored_once(ids_of(events))


def test_one_peer_cannot_take_every_slot(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int,
        loris_pack: Callable[[list[socket.socket]], Loris]) -> None:
    """Timeouts far away: only the per-peer limit lets the others in."""
    config = write_config(tmp_path, line_timeout_s=600, idle_timeout_s=600)
    metrics_port = find_free_port()
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--db", str(db.path),
                          "--log-level", "info", config=config)
    agent.wait_for_log("listening on tcp")
    socks = [tcp_client(free_port, source="127.0.0.2") for _ in range(LORIS_COUNT)]
    loris = loris_pack(socks)
    agent.wait_for(lambda: len(loris.closed_at) >= LORIS_COUNT - 16, what="refusals")

    events = list(generate(1000, seed=42, users=50))
    run_good_clients([GoodClient(lambda: tcp_client(free_port), events[i * 100:(i + 1) * 100],
                                 retry=False) for i in range(10)])
    agent.wait_for(lambda: db.count() >= len(events), what="every good event stored")
    assert len(loris.closed_at) == LORIS_COUNT - 16, "16 slots for 127.0.0.2, no more"

    refused = [line for line in agent.stderr().splitlines() if "refused, peer" in line]
    assert len(refused) == LORIS_COUNT - 16
    assert all("peer 127.0.0.2:" in line for line in refused)
    stats = agent.wait_for(lambda: socket_stats(db).get("accepted") == 16 + 10
                           and socket_stats(db), what="the counters in the heartbeat")
    assert stats["refused_peer_limit"] == LORIS_COUNT - 16 and stats["active"] == 16
    scraped = scrape(metrics_port)
    assert scraped["ottwatch_socket_refused_total"][(("reason", "peer_limit"),)] == \
        LORIS_COUNT - 16
    assert scraped["ottwatch_socket_connections_accepted_total"][()] == 16 + 10
    assert scraped["ottwatch_socket_connections_active"][()] == 16
    assert agent.stop() == 0
    db.assert_stored_once(ids_of(events))


def test_unix_peers_are_their_user_and_hold_a_share_of_the_slots(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int) -> None:
    unix_path = tmp_path / "ingest.sock"
    config = write_config(tmp_path, max_connections=8, max_connections_per_peer=3)
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--unix", str(unix_path),
                          "--db", str(db.path), "--log-level", "info", config=config)
    agent.wait_for_log("listening on unix")
    socks = [unix_client(unix_path) for _ in range(5)]
    assert [admitted(sock) for sock in socks] == [True, True, True, False, False]
    assert admitted(tcp_client(free_port)), "another peer still gets in"
    refused = [line for line in agent.stderr().splitlines() if "refused, peer" in line]
    assert len(refused) == 2 and all(" pid " in line for line in refused), refused

    events = list(generate(200, seed=43, users=20))
    finish(socks[0], lines_of(events))
    assert admitted(unix_client(unix_path)), "a freed slot is the peer's again"
    agent.wait_for(lambda: db.count() >= len(events), what="the events over the socket")
    assert agent.stop() == 0
    db.assert_stored_once(ids_of(events))


def test_a_line_left_unfinished_and_a_silent_connection_are_cut_a_steady_one_is_not(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int) -> None:
    config = write_config(tmp_path, line_timeout_s=1, idle_timeout_s=2)
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--db", str(db.path),
                          "--log-level", "info", config=config)
    agent.wait_for_log("listening on tcp")
    events = list(generate(11, seed=44, users=5))

    def steady() -> None:
        sock = tcp_client(free_port)
        for line in events[1:]:  # 5 s in all: longer than either timeout
            sock.sendall(line + b"\n")
            time.sleep(0.5)
        finish(sock, b"")

    steady_thread = threading.Thread(target=steady, daemon=True)
    steady_thread.start()
    slow = tcp_client(free_port)
    slow.sendall(events[0] + b"\n")
    partial_began = time.monotonic()
    slow_cut_after = None
    for byte in b'{"event_id": "secret-partial' * 10:
        if closed_by_agent(slow, 0.25):
            slow_cut_after = time.monotonic() - partial_began
            break
        slow.sendall(bytes([byte]))
    silent = tcp_client(free_port)
    connected = time.monotonic()
    assert closed_by_agent(silent, 10)
    silent_cut_after = time.monotonic() - connected

    assert slow_cut_after is not None and 0.9 <= slow_cut_after <= 4, slow_cut_after
    assert 1.9 <= silent_cut_after <= 5, silent_cut_after
    steady_thread.join(IO_TIMEOUT_S)
    agent.wait_for(lambda: db.count() >= len(events), what="the steady client's events")
    log_text = agent.stderr()
    assert len(cut_lines(log_text, "slow")) == 1 and len(cut_lines(log_text, "idle")) == 1
    assert "a line left unfinished for 1 s" in log_text
    assert "no complete line for 2 s" in log_text
    assert "secret" not in log_text
    assert agent.stop() == 0
    db.assert_stored_once(ids_of(events))


def brace_garbage(count: int, seed: int) -> bytes:
    """Lines that start like a JSON object and are not one."""
    rng = random.Random(seed)
    return b"".join(b"{" + rng.randbytes(120).replace(b"\n", b" ") + b"\n"
                    for _ in range(count))


def test_brace_prefixed_garbage_is_cut_and_reconnecting_buys_no_fresh_budget(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int) -> None:
    unix_path = tmp_path / "ingest.sock"
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--unix", str(unix_path),
                          "--db", str(db.path), "--log-level", "info")
    agent.wait_for_log("listening on unix")
    events = list(generate(10_000, seed=45, users=300))
    connects = [lambda: tcp_client(free_port)] * 3 + [lambda: unix_client(unix_path)] * 2
    clients = [GoodClient(connect, events[i * 2000:(i + 1) * 2000], retry=False)
               for i, connect in enumerate(connects)]
    started = time.monotonic()
    for client in clients:
        client.start()
    for seed in (1, 2):  # one connection, then another from the same peer
        send_ignoring_cut(tcp_client(free_port), brace_garbage(50_000, seed))
    join_good_clients(clients)
    agent.wait_for(lambda: db.count() >= len(events), what="every good event stored")
    elapsed = time.monotonic() - started

    log_text = agent.stderr()
    assert len(cut_lines(log_text, "bad_lines")) == 2, log_text[-2000:]
    by_connection: dict[str, int] = {}
    for source, *_ in db.quarantine():
        by_connection[source] = by_connection.get(source, 0) + 1
    first, second = [*sorted(by_connection.values(), reverse=True), 0][:2]
    assert first >= 100, by_connection  # quarantined, not dropped, up to the budget
    assert first <= 100 + 2 * elapsed, by_connection  # the per-minute budget of the peer
    assert second <= 2 * elapsed + 1, by_connection  # what refilled since, no more
    assert agent.stop() == 0
    db.assert_stored_once(ids_of(events))


def test_a_connection_over_its_bytes_a_minute_is_cut(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int) -> None:
    quota = 1024 * 1024
    unix_path = tmp_path / "ingest.sock"
    config = write_config(tmp_path, bytes_per_minute=quota)
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--unix", str(unix_path),
                          "--db", str(db.path), "--log-level", "info", config=config)
    agent.wait_for_log("listening on unix")
    heavy = list(generate(14_000, seed=46, users=300))
    light = list(generate(1000, seed=47, users=30))
    assert len(lines_of(heavy)) > 3 * quota and len(lines_of(light)) < quota // 2
    started = time.monotonic()
    send_ignoring_cut(tcp_client(free_port), lines_of(heavy))
    finish(unix_client(unix_path), lines_of(light))
    agent.wait_for(lambda: cut_lines(agent.stderr(), "bytes"), what="the heavy client cut")
    agent.wait_for(lambda: set(ids_of(light)) <= set(db.event_ids()), what="the light events")
    elapsed = time.monotonic() - started
    assert agent.stop() == 0

    stored = set(db.event_ids())
    heavy_bytes = sum(len(line) + 1 for line in heavy
                      if orjson.loads(line)["event_id"] in stored)
    assert quota // 2 < heavy_bytes <= quota + quota / 60 * elapsed, heavy_bytes
    assert stored >= set(ids_of(light))
    assert "over 1048576 bytes a minute" in cut_lines(agent.stderr(), "bytes")[0]
