"""Shared test helpers: bounded polling, free ports, and `ottwatch agent` subprocesses
that are always killed at teardown."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.02
STOP_TIMEOUT_S = 30.0

T = TypeVar("T")


def poll_until(predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT_S, *,
               interval: float = POLL_INTERVAL_S, what: str = "condition") -> T:
    """Call `predicate` until it returns something truthy (which is returned);
    fail the test once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(port: int) -> Samples:
    """Every sample of an agent's /metrics by name, then by its sorted labels, read with
    the Prometheus client's own parser."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = \
                sample.value
    return samples


class Database:
    """Read-only queries on the agent's SQLite file through a plain sqlite3 connection;
    before the file or its schema exists, queries give nothing. Never creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        except sqlite3.OperationalError:
            return []
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def count(self, table: str = "events") -> int:
        rows = self.rows(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - a test's own table name
        return rows[0][0] if rows else 0

    def event_ids(self) -> list[str]:
        return [r[0] for r in self.rows("SELECT event_id FROM events")]

    def quarantine(self) -> list[tuple[str, int, str, str, bytes, int]]:
        """(source, offset, reason, detail, raw, raw_length) in arrival order."""
        return self.rows("SELECT source, source_offset, reason, detail, raw, raw_length "
                         "FROM quarantine ORDER BY id")

    def checkpoint(self, path: Path) -> tuple[int | None, int] | None:
        """(inode, offset) checkpointed for a tailed file."""
        rows = self.rows("SELECT inode, offset FROM checkpoints WHERE source = ?",
                         (f"file:{os.path.abspath(path)}",))
        return (rows[0][0], rows[0][1]) if rows else None

    def assert_stored_once(self, expected_ids: set[str] | list[str]) -> None:
        (total, distinct), = self.rows("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events")
        assert total == distinct, f"{total - distinct} events stored more than once"
        stored = set(self.event_ids())
        expected = set(expected_ids)
        missing, extra = expected - stored, stored - expected
        assert not missing and not extra, (
            f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), "
            f"{len(extra)} unexpected (e.g. {sorted(extra)[:3]})")


def agent_env(extra: dict[str, str] | None = None, *, config: Path | None = None) -> dict[str, str]:
    """The environment of a child ottwatch: no inherited ottwatch or systemd settings,
    and a config file of the test's own (an empty one gives the defaults)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTTWATCH_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    if config is not None:
        env["OTTWATCH_CONFIG"] = str(config)
    env.update(extra or {})
    return env


class AgentProcess:
    """One `ottwatch agent` child; its stderr goes to a file the test can read."""

    def __init__(self, args: Sequence[str], *, workdir: Path, env: dict[str, str],
                 label: str, umask: int = -1) -> None:
        self.args = [sys.executable, "-m", "ottwatch", "agent", *args]
        self.stderr_path = workdir / f"{label}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(self.args, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr, umask=umask)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no draining, no cleanup."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"agent did not stop within {timeout}s of SIGTERM; "
                                 f"stderr:\n{self.stderr()}") from None

    def wait_for_log(self, text: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        def seen() -> str | None:
            if not self.alive():
                raise AssertionError(f"agent exited ({self.proc.returncode}) before logging "
                                     f"{text!r}; stderr:\n{self.stderr()}")
            log = self.stderr()
            return log if text in log else None

        return poll_until(seen, timeout, what=f"{text!r} on the agent's stderr")

    def wait_for(self, predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT_S, *,
                 what: str = "condition") -> T:
        """`poll_until`, failing at once (with the agent's stderr) if the agent exits."""
        def check() -> T:
            self.assert_alive()
            return predicate()

        try:
            return poll_until(check, timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; agent stderr (tail):\n{self.stderr()[-3000:]}") from None

    def assert_alive(self) -> None:
        assert self.alive(), f"agent exited ({self.proc.returncode}); stderr:\n{self.stderr()}"


AgentFactory = Callable[..., AgentProcess]


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    return poll_until


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@pytest.fixture
def open_db() -> type[Database]:
    """`open_db(path)`: a read-only view of an ottwatch SQLite database."""
    return Database


def run_ottwatch(*args: str, timeout: float = 120.0, env: dict[str, str] | None = None,
                 umask: int = -1) -> subprocess.CompletedProcess[str]:
    """`ottwatch ARGS...` to completion (bounded), in a clean environment."""
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO,
                          env=agent_env(env), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, umask=umask)


@pytest.fixture
def ottwatch() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`ottwatch(*args, timeout=..., env=..., umask=...)` runs the CLI to completion."""
    return run_ottwatch


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[AgentFactory]:
    """Start `ottwatch agent ARGS...`; every process started is SIGKILLed at teardown
    if the test has not stopped it. Without `config`, an empty config file applies."""
    started: list[AgentProcess] = []
    empty_config = tmp_path / "empty-config.toml"
    empty_config.write_text("", encoding="utf-8")

    def start(*args: str, env: dict[str, str] | None = None, config: Path | None = None,
              umask: int = -1) -> AgentProcess:
        label = f"agent-{len(started) + 1}"
        process = AgentProcess(args, workdir=tmp_path, env=agent_env(
            env, config=config or empty_config), label=label, umask=umask)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.proc.kill()
        process.proc.wait(timeout=STOP_TIMEOUT_S)


# What marks a test module as starting processes or servers (the agent, the CLI in a
# subprocess, tmux, PostgreSQL): its tests are `slow`, so `pytest -m "not slow"` is
# the fast lane, and a new test of that kind is classed without anyone remembering to.
STARTS_PROCESSES = ("subprocess", "agent_process", "tmux", "postgres_server",
                    "ProcessPoolExecutor", "multiprocessing", "ProcessTrainer")
_SLOW_MODULES: dict[Path, bool] = {}


def _starts_processes(path: Path) -> bool:
    if path not in _SLOW_MODULES:
        text = path.read_text(encoding="utf-8")
        _SLOW_MODULES[path] = any(word in text for word in STARTS_PROCESSES)
    return _SLOW_MODULES[path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if _starts_processes(Path(str(item.fspath))) or fixtures & {
                "agent_process", "ottwatch", "replayed", "console_db", "postgres_url"} \
                or item.get_closest_marker("postgres") or "postgres" in item.nodeid:
            item.add_marker(pytest.mark.slow)
