"""kill -9 at any point loses nothing and stores nothing twice: events and the
source checkpoint commit in one transaction, and a restart resumes from it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.generator import generate, write_log

LINES = 200_000
KILL_AT = (20_000, 80_000, 150_000)


def event_ids_in(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        return [orjson.loads(line)["event_id"] for line in handle if line.strip()]


def caught_up(db: Any, log: Path, expected: int) -> bool:
    checkpoint = db.checkpoint(log)
    return (db.count() == expected and checkpoint is not None
            and checkpoint[1] == log.stat().st_size)


@pytest.mark.slow
def test_kill_9_mid_stream_then_restart_stores_each_event_once(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    log = tmp_path / "app.jsonl"
    write_log(log, LINES, seed=11, users=2000)
    expected = event_ids_in(log)
    assert len(expected) == LINES
    db = open_db(tmp_path / "agent.db")

    for threshold in KILL_AT:
        agent = agent_process(str(log), "--db", str(db.path))
        agent.wait_for(lambda n=threshold: db.count() >= n, 120,
                       what=f"{threshold} stored events")
        agent.kill()
        stored = db.count()
        assert stored < LINES, "the agent finished before it could be killed mid-stream"
        db.assert_stored_once(expected[:stored])  # batches commit in file order: a prefix

    agent = agent_process(str(log), "--db", str(db.path))
    agent.wait_for(lambda: caught_up(db, log, LINES), 120,
                   what="all events stored and the checkpoint at the end of the file")
    assert agent.stop() == 0, agent.stderr()
    db.assert_stored_once(expected)
    assert db.quarantine() == [], "a restart resumed in the middle of a line"


class Appender(threading.Thread):
    """Appends generated lines, split mid-line across writes so the agent often
    sees half a line; stays at most `lead` lines ahead of what is stored, so it
    is still writing whenever the test kills the agent."""

    def __init__(self, path: Path, lines: Iterator[bytes], total: int,
                 stored: Callable[[], int], lead: int) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.lines = lines
        self.total = total
        self.stored = stored
        self.lead = lead
        self.written: list[str] = []
        self.done = threading.Event()
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._append()
        except BaseException as exc:  # reported by the test thread
            self.error = exc
        finally:
            self.done.set()

    def _append(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            batch: list[bytes] = []
            for line in self.lines:
                if self.halt.is_set():
                    return
                batch.append(line)
                if len(batch) < 250 and len(self.written) + len(batch) < self.total:
                    continue
                while (len(self.written) - self.stored() > self.lead
                       and not self.halt.wait(0.01)):
                    pass
                data = b"\n".join(batch) + b"\n"
                cut = len(data) - len(batch[-1]) // 2 - 1
                os.write(fd, data[:cut])
                os.write(fd, data[cut:])
                self.written += [orjson.loads(b)["event_id"] for b in batch]
                batch.clear()
                if len(self.written) >= self.total:
                    return
        finally:
            os.close(fd)


def test_kill_9_while_the_log_is_being_appended(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    log = tmp_path / "app.jsonl"
    db = open_db(tmp_path / "agent.db")
    total = 60_000
    appender = Appender(log, generate(total, seed=23, users=500), total, db.count, lead=5_000)
    appender.start()
    try:
        for threshold in (10_000, 25_000, 40_000):
            agent = agent_process(str(log), "--db", str(db.path))
            agent.wait_for(lambda n=threshold: db.count() >= n or appender.error is not None,
                           120, what=f"{threshold} stored events")
            assert appender.error is None, appender.error
            assert not appender.done.is_set(), "the writer finished before the kill"
            agent.kill()
        agent = agent_process(str(log), "--db", str(db.path))
        assert appender.done.wait(120), "the writer did not finish"
        assert appender.error is None, appender.error
        agent.wait_for(lambda: caught_up(db, log, total), 120, what="all appended events stored")
        assert agent.stop() == 0, agent.stderr()
    finally:
        appender.halt.set()
        appender.join(10)
    assert len(appender.written) == total
    db.assert_stored_once(appender.written)
    assert db.quarantine() == []
