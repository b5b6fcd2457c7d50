"""logrotate's moves (rename+create, copytruncate), truncation, and rotation while
the agent is stopped: no line lost, none stored twice."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.generator import generate


class LineWriter:
    """Appends unique generated lines to whichever file the test names, through
    O_APPEND handles (as loggers and logrotate's copytruncate expect)."""

    def __init__(self, seed: int) -> None:
        self._lines: Iterator[bytes] = generate(1_000_000, seed=seed, users=300)
        self.written: list[str] = []
        self._half: bytes = b""

    @staticmethod
    def open(path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, fd: int, count: int) -> None:
        batch = [next(self._lines) for _ in range(count)]
        os.write(fd, self._half + b"".join(line + b"\n" for line in batch))
        self._half = b""
        self.written += [orjson.loads(line)["event_id"] for line in batch]

    def write_half_line(self, fd: int) -> None:
        """The first half of a line; the next `write` (on any handle) completes it."""
        line = next(self._lines)
        os.write(fd, line[: len(line) // 2])
        self._half = line[len(line) // 2 :] + b"\n"
        self.written.append(orjson.loads(line)["event_id"])


def caught_up(db: Any, log: Path, expected: int) -> bool:
    checkpoint = db.checkpoint(log)
    try:
        st = log.stat()
    except FileNotFoundError:
        return False
    return db.count() == expected and checkpoint == (st.st_ino, st.st_size)


@pytest.fixture
def tailed(tmp_path: Path, agent_process: Callable[..., Any], open_db: Any
           ) -> tuple[Path, Any, Callable[..., Any]]:
    """The log path, its database, and a function that starts an agent on them."""
    log = tmp_path / "logs" / "app.jsonl"
    log.parent.mkdir()
    db = open_db(tmp_path / "agent.db")

    def start(*extra: str) -> Any:
        return agent_process(str(log), "--db", str(db.path), "--log-level", "info", *extra)

    return log, db, start


@pytest.mark.parametrize(("lagging", "poll"), [(False, False), (True, False), (False, True)],
                         ids=["following", "lagging", "polling"])
def test_rename_and_create(tailed: tuple[Path, Any, Callable[..., Any]], lagging: bool,
                           poll: bool) -> None:
    log, db, start = tailed
    writer = LineWriter(seed=1)
    old = writer.open(log)
    writer.write(old, 2000)
    agent = start(*(["--poll"] if poll else []))
    agent.wait_for(lambda: db.count() == 2000, what="the first lines")
    if lagging:
        agent.signal(signal.SIGSTOP)
    writer.write(old, 1000)
    writer.write_half_line(old)
    log.rename(log.with_name("app.jsonl.1"))
    writer.write(old, 100)  # a writer that reopens late keeps its old handle a while
    os.close(old)
    new = writer.open(log)
    writer.write(new, 2000)
    if lagging:
        agent.signal(signal.SIGCONT)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)),
                   what="the old file finished and the new one read")
    writer.write(new, 500)
    os.close(new)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)), what="later lines")
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)
    assert db.quarantine() == []


@pytest.mark.parametrize("lagging", [False, True], ids=["following", "lagging"])
def test_copytruncate(tailed: tuple[Path, Any, Callable[..., Any]], lagging: bool) -> None:
    """Copy and truncate while the writer pauses. Lagging, the agent is frozen across
    the rotation and the file has grown past the old read offset when it wakes."""
    log, db, start = tailed
    writer = LineWriter(seed=2)
    fd = writer.open(log)
    writer.write(fd, 2000)
    agent = start()
    agent.wait_for(lambda: db.count() == 2000, what="the first lines")
    if lagging:
        agent.signal(signal.SIGSTOP)
    writer.write(fd, 700)
    shutil.copyfile(log, log.with_name("app.jsonl.1"))
    os.truncate(log, 0)
    writer.write(fd, 3000)
    if lagging:
        agent.signal(signal.SIGCONT)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)),
                   what="the copy's tail and the truncated file read")
    writer.write(fd, 300)
    os.close(fd)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)), what="later lines")
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)
    assert db.quarantine() == []
    assert "copytruncate" in agent.stderr()


def test_truncation_to_a_shorter_file_is_logged_and_read(
        tailed: tuple[Path, Any, Callable[..., Any]]) -> None:
    log, db, start = tailed
    writer = LineWriter(seed=3)
    fd = writer.open(log)
    writer.write(fd, 2000)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, 2000), what="the first lines")
    os.truncate(log, 0)
    writer.write(fd, 100)
    os.close(fd)
    agent.wait_for(lambda: caught_up(db, log, 2100), what="the new content")
    log_text = agent.wait_for_log("truncated")
    assert any("WARNING" in line and "truncated" in line for line in log_text.splitlines())
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)


def test_rotation_while_stopped_finishes_the_rotated_file_first(
        tailed: tuple[Path, Any, Callable[..., Any]]) -> None:
    log, db, start = tailed
    writer = LineWriter(seed=4)
    old = writer.open(log)
    writer.write(old, 2000)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, 2000), what="the first lines")
    assert agent.stop() == 0
    writer.write(old, 1000)  # never read before the rotation
    os.close(old)
    log.rename(log.with_name("app.jsonl.1"))
    new = writer.open(log)
    writer.write(new, 1500)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)),
                   what="the rotated file's rest and the new file")
    assert "rotated while stopped" in agent.stderr()
    writer.write(new, 200)
    os.close(new)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)), what="later lines")
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)
    assert db.quarantine() == []
    order = [r[0] for r in db.rows("SELECT event_id FROM events ORDER BY id")]
    assert order == writer.written, "the rotated file's rest is stored before the new file"


@pytest.mark.parametrize("lines_after", [300, 3000], ids=["shorter", "grown-past-checkpoint"])
def test_copytruncate_while_stopped_takes_the_rest_from_the_copy(
        tailed: tuple[Path, Any, Callable[..., Any]], lines_after: int) -> None:
    log, db, start = tailed
    writer = LineWriter(seed=5)
    fd = writer.open(log)
    writer.write(fd, 2000)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, 2000), what="the first lines")
    assert agent.stop() == 0
    writer.write(fd, 800)
    shutil.copyfile(log, log.with_name("app.jsonl.1"))
    os.truncate(log, 0)
    writer.write(fd, lines_after)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)),
                   what="the copy's rest and the truncated file")
    os.close(fd)
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)
    assert db.quarantine() == []


def rotate_numbered(log: Path) -> None:
    """logrotate's numbered scheme: app.jsonl.1 -> app.jsonl.2, app.jsonl -> app.jsonl.1."""
    first = log.with_name("app.jsonl.1")
    if first.exists():
        first.rename(log.with_name("app.jsonl.2"))
    log.rename(first)


@pytest.mark.parametrize("how", ["frozen", "stopped"])
def test_two_rotations_unseen_by_the_agent(
        tailed: tuple[Path, Any, Callable[..., Any]], how: str) -> None:
    """Two rename rotations while the agent is frozen (SIGSTOP) or stopped (SIGTERM):
    the middle generation was never opened by the agent and is read all the same."""
    log, db, start = tailed
    writer = LineWriter(seed=6)
    first = writer.open(log)
    writer.write(first, 1500)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, 1500), what="the first lines")
    if how == "frozen":
        agent.signal(signal.SIGSTOP)
    else:
        assert agent.stop() == 0
    writer.write(first, 500)
    os.close(first)
    rotate_numbered(log)
    second = writer.open(log)
    writer.write(second, 1200)
    os.close(second)
    rotate_numbered(log)
    third = writer.open(log)
    writer.write(third, 900)
    if how == "frozen":
        agent.signal(signal.SIGCONT)
    else:
        agent = start()
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)),
                   what="all three generations read")
    writer.write(third, 100)
    os.close(third)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)), what="later lines")
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)
    assert db.quarantine() == []
    order = [r[0] for r in db.rows("SELECT event_id FROM events ORDER BY id")]
    assert order == writer.written, "generations are read oldest first"
