"""TCP and Unix socket ingest: many concurrent clients, and clients that misbehave
are cut off with a logged reason while the others go on."""

from __future__ import annotations

import random
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fixtures.generator import generate

CLIENTS_PER_KIND = 10
LINES_PER_CLIENT = 2000
HUGE_LINE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_LINE = 64 * 1024
DEFAULT_QUARANTINE_HEAD = 4096
IO_TIMEOUT_S = 60.0


def connect(kind: str, port: int, unix_path: Path) -> socket.socket:
    if kind == "tcp":
        sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(IO_TIMEOUT_S)
        sock.connect(str(unix_path))
    return sock


def send_and_close(sock: socket.socket, data: bytes) -> None:
    """Send until the server has read everything or cut us off; then wait for its close."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:  # cut off: reset or broken pipe
        pass
    finally:
        sock.close()


def pieces(data: bytes, rng: random.Random) -> list[bytes]:
    """`data` cut at arbitrary bytes, so lines arrive split across reads."""
    cuts = sorted(rng.sample(range(1, len(data)), 8))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


class GoodClient(threading.Thread):
    """Sends the first half of its lines, waits until the bad clients were cut off,
    then sends the rest on the same connection."""

    def __init__(self, kind: str, number: int, lines: list[bytes], port: int, unix_path: Path,
                 go_on: threading.Event) -> None:
        super().__init__(daemon=True, name=f"{kind}-{number}")
        self.kind, self.number, self.lines = kind, number, lines
        self.port, self.unix_path, self.go_on = port, unix_path, go_on
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            rng = random.Random(self.name)
            sock = connect(self.kind, self.port, self.unix_path)
            half = len(self.lines) // 2
            for part in pieces(b"".join(line + b"\n" for line in self.lines[:half]), rng):
                sock.sendall(part)
            if not self.go_on.wait(IO_TIMEOUT_S):
                raise TimeoutError("the bad clients were never cut off")
            for part in pieces(b"".join(line + b"\n" for line in self.lines[half:]), rng):
                sock.sendall(part)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
            sock.close()
        except BaseException as exc:  # reported by the test thread
            self.error = exc


def cut_off_lines(log_text: str) -> list[str]:
    return [line for line in log_text.splitlines() if "connection cut off" in line]


def test_concurrent_clients_and_misbehaving_ones(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int) -> None:
    unix_path = tmp_path / "ingest.sock"
    assert len(str(unix_path)) < 100, "Unix socket paths are limited to ~107 bytes"
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--unix", str(unix_path),
                          "--db", str(db.path), "--log-level", "info")
    agent.wait_for_log("listening on unix")
    agent.wait_for_log("listening on tcp")
    assert stat.S_ISSOCK(unix_path.stat().st_mode)
    assert stat.S_IMODE(unix_path.stat().st_mode) == 0o600

    lines = list(generate(2 * CLIENTS_PER_KIND * LINES_PER_CLIENT, seed=31, users=400))
    expected = [orjson.loads(line)["event_id"] for line in lines]
    go_on = threading.Event()
    clients = [
        GoodClient(kind, number, lines[i * LINES_PER_CLIENT:(i + 1) * LINES_PER_CLIENT],
                   free_port, unix_path, go_on)
        for i, (kind, number) in enumerate(
            [(k, n) for k in ("tcp", "unix") for n in range(CLIENTS_PER_KIND)])
    ]
    for client in clients:
        client.start()
    agent.wait_for(lambda: db.count() >= len(lines) // 2, what="every client's first half")

    huge = connect("tcp", free_port, unix_path)
    huge_port = huge.getsockname()[1]
    huge_line = b'{"event_id": "huge", "x": "' + b"a" * HUGE_LINE_BYTES + b'"}\n'
    garbage = connect("unix", free_port, unix_path)
    junk = random.Random(5).randbytes(2 * 1024 * 1024)
    bad = [threading.Thread(target=send_and_close, args=(huge, huge_line), daemon=True),
           threading.Thread(target=send_and_close, args=(garbage, junk), daemon=True)]
    for thread in bad:
        thread.start()
    log_text = agent.wait_for(lambda: len(cut_off_lines(agent.stderr())) >= 2 and agent.stderr(),
                              what="both bad clients cut off")
    for thread in bad:
        thread.join(IO_TIMEOUT_S)
        assert not thread.is_alive(), "a cut-off client was left hanging"
    go_on.set()

    for client in clients:
        client.join(IO_TIMEOUT_S)
        assert not client.is_alive() and client.error is None, (client.name, client.error)
    agent.wait_for(lambda: db.count() >= len(lines), what="every good line stored")

    cut = cut_off_lines(log_text)
    assert len(cut) == 2, cut
    assert any(f"tcp:127.0.0.1:{huge_port}#" in line and "line over" in line for line in cut), cut
    assert any(" unix:" in line for line in cut), cut
    assert all("WARNING" in line for line in cut)

    quarantine = db.quarantine()
    too_long = [q for q in quarantine if q[2] == "line_too_long"]
    assert len(too_long) == 1, [q[:4] for q in quarantine if not q[0].startswith("unix:")]
    source, offset, _reason, _detail, raw, raw_length = too_long[0]
    assert source.startswith(f"tcp:127.0.0.1:{huge_port}#") and offset == 0
    assert raw_length > DEFAULT_MAX_LINE
    assert raw == huge_line[:DEFAULT_QUARANTINE_HEAD]
    garbage_rows = [q for q in quarantine if q[0].startswith("unix:")]
    assert garbage_rows, "the garbage lines are quarantined, not dropped"

    assert agent.stop() == 0, agent.stderr()
    db.assert_stored_once(expected)
    assert not unix_path.exists(), "the Unix socket is removed on exit"


def test_a_stale_socket_file_from_a_killed_agent_is_replaced(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    unix_path = tmp_path / "ingest.sock"
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--unix", str(unix_path), "--db", str(db.path), "--log-level", "info")
    agent.wait_for_log("listening on unix")
    agent.kill()
    assert stat.S_ISSOCK(unix_path.stat().st_mode), "SIGKILL leaves the socket file behind"

    agent = agent_process("--unix", str(unix_path), "--db", str(db.path), "--log-level", "info")
    agent.wait_for_log("listening on unix")
    lines = list(generate(300, seed=32, users=20))
    send_and_close(connect("unix", 0, unix_path), b"".join(line + b"\n" for line in lines))
    agent.wait_for(lambda: db.count() == 300, what="lines over the new socket")
    assert agent.stop() == 0
    db.assert_stored_once([orjson.loads(line)["event_id"] for line in lines])
