"""FaultWaiter against a real SQLite file locked by another connection: the same call
is retried until the lock goes, with one warning and one info; bugs are not retried;
a halt gives up."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage import open_database
from storage.fault_wait import FaultWaiter, StorageUnavailable
from storage.faults import LOCKED

LOGGER = "ottwatch.test.faults"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    db = open_database(f"sqlite:///{tmp_path / 'wait.db'}")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        # A short busy timeout so the test does not sit through SQLite's 10 s.
        conn.exec_driver_sql("PRAGMA busy_timeout = 50")
    yield db
    db.dispose()


def hold_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def insert(engine: Engine, value: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout = 50")
        conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})


def test_a_lock_is_waited_out_and_the_same_call_succeeds_once_it_goes(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    waiter = FaultWaiter(logging.getLogger(LOGGER), pausing="testing", initial_s=0.05, max_s=0.2)
    started, cleared = [], []
    waiter.on_start.append(started.append)
    waiter.on_clear.append(lambda outage, duration: cleared.append((outage, duration)))
    holder = hold_lock(tmp_path / "wait.db")
    release = threading.Timer(1.5, lambda: holder.execute("ROLLBACK"))
    release.start()
    caplog.set_level(logging.INFO, LOGGER)
    try:
        begun = time.monotonic()
        waiter.call(insert, engine, 7)
        took = time.monotonic() - begun
    finally:
        release.join()
        holder.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [7]
    assert took >= 1.4
    [outage] = started
    assert outage.fault.kind == LOCKED and waiter.outage is None and waiter.outages == 1
    [(cleared_outage, duration)] = cleared
    assert cleared_outage is outage and 1.0 <= duration <= took + 0.1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "storage fault: database locked since" in warnings[0].getMessage()
    assert len(infos) == 1 and infos[0].startswith("storage fault cleared: database locked")


def test_the_backoff_doubles_up_to_its_cap(engine: Engine, tmp_path: Path):
    waiter = FaultWaiter(logging.getLogger(LOGGER), pausing="testing", initial_s=0.05, max_s=0.2)
    attempts: list[float] = []

    def counted() -> None:
        attempts.append(time.monotonic())
        insert(engine, 1)

    holder = hold_lock(tmp_path / "wait.db")
    release = threading.Timer(1.2, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        waiter.call(counted)
    finally:
        release.join()
        holder.close()
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # Each gap is the busy timeout (50 ms) plus the backoff: 0.05, 0.1, 0.2, 0.2, ...
    assert len(gaps) >= 4
    assert gaps[0] < gaps[2] and all(gap < 0.2 + 0.05 + 0.15 for gap in gaps)


def test_a_bug_is_raised_at_once(engine: Engine):
    waiter = FaultWaiter(logging.getLogger(LOGGER), pausing="testing", initial_s=0.05)
    calls = []

    def broken() -> None:
        calls.append(1)
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM missing_table"))

    with pytest.raises(Exception, match="no such table"):
        waiter.call(broken)
    assert calls == [1] and waiter.outage is None


def test_a_halt_ends_the_wait_with_storage_unavailable(engine: Engine, tmp_path: Path):
    waiter = FaultWaiter(logging.getLogger(LOGGER), pausing="testing", initial_s=5.0)
    holder = hold_lock(tmp_path / "wait.db")
    halt = threading.Timer(0.5, waiter.halt)
    halt.start()
    try:
        begun = time.monotonic()
        with pytest.raises(StorageUnavailable, match="database locked since"):
            waiter.call(insert, engine, 1)
        assert time.monotonic() - begun < 3.0  # not the 5 s backoff
    finally:
        halt.join()
        holder.execute("ROLLBACK")
        holder.close()
