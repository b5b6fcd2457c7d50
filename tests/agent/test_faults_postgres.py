"""The real agent on a real PostgreSQL server that goes away mid-stream and comes back:
the lost connection is waited out, and every event is stored once."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.agent.test_faults_agent import FAULT_WARNING, append_events, assert_no_event_data
from tests.postgres_server import find_bindir

pytestmark = pytest.mark.postgres


class Server:
    """A throwaway server on a Unix socket that the test can stop and start again."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="ottwatch-pg-faults-"))
        self.data, self.sockets = self.root / "data", self.root / "run"
        self.sockets.mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
            self.root.chmod(0o755)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "ottwatch", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql+psycopg://ottwatch@/postgres?host={self.sockets}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bindir / tool), *args], check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-c listen_addresses='' -c unix_socket_directories={self.sockets} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.root / "log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def count(self) -> int:
        try:
            with psycopg.connect(host=str(self.sockets), user="ottwatch", dbname="postgres",
                                 connect_timeout=5) as conn:
                return conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            return -1

    def event_ids(self) -> list[str]:
        with psycopg.connect(host=str(self.sockets), user="ottwatch", dbname="postgres") as conn:
            return [r[0] for r in conn.execute("SELECT event_id FROM events")]

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def server() -> Iterator[Server]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    running = Server(bindir)
    running.start()
    try:
        yield running
    finally:
        running.remove()


def test_a_postgres_server_that_goes_away_is_waited_out(
        tmp_path: Path, server: Server, agent_process: Callable[..., Any]):
    log = tmp_path / "events.jsonl"
    expected = append_events(log, 0, 20)
    agent = agent_process(str(log), "--db", server.url, "--log-level", "info")
    agent.wait_for(lambda: server.count() == 20, what="the first events stored")

    server.stop()
    expected += append_events(log, 20, 200)
    agent.wait_for_log("storage fault: database connection lost since", timeout=60)
    time.sleep(2)
    agent.assert_alive()
    server.start()

    agent.wait_for(lambda: server.count() == 220, what="the held-back events stored")
    agent.wait_for_log("storage fault cleared: database connection lost")
    assert agent.stop() == 0
    ids = server.event_ids()
    assert len(ids) == len(set(ids)) and set(ids) == set(expected)
    stderr = agent.stderr()
    assert stderr.count(FAULT_WARNING) == 1, stderr
    assert_no_event_data(stderr, 220)
