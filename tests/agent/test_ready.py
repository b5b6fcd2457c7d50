"""READY (the log line and systemd's READY=1) means clients can connect: the sockets
listen before it is said."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_ready_is_said_after_every_socket_listens(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, free_port: int) -> None:
    db = open_db(tmp_path / "agent.db")
    unix_path = tmp_path / "ingest.sock"
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--unix", str(unix_path),
                          "--db", str(db.path), "--log-level", "info")
    log = agent.wait_for_log("agent ready")
    ready = log.index("agent ready")
    assert log.index("listening on tcp") < ready and log.index("listening on unix") < ready
    with socket.create_connection(("127.0.0.1", free_port), timeout=5):
        pass
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(unix_path))
    assert agent.stop() == 0, agent.stderr()
