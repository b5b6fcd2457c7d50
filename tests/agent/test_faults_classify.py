"""Which storage errors are waited out, told from real errors of real databases, and
how errors are described without the values they carried."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import open_database
from storage.faults import CONNECTION, FULL, LOCKED, classify, describe, safe_traceback

SECRET_USER = "user-7f3a-secret"


def _locked_error(path: Path) -> sqlite3.OperationalError:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        writer = sqlite3.connect(path, timeout=0)
        with pytest.raises(sqlite3.OperationalError) as caught:
            writer.execute("INSERT INTO t VALUES (1)")
        writer.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    return caught.value


def test_a_locked_sqlite_database_is_a_lock_fault(tmp_path: Path):
    fault = classify(_locked_error(tmp_path / "a.db"))
    assert fault is not None and fault.kind == LOCKED and fault.code == "SQLITE_BUSY"


def test_a_full_sqlite_database_is_a_full_fault_raw_and_through_sqlalchemy(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        with pytest.raises(OperationalError) as caught, engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA max_page_count = 1")  # no page may be added
            conn.exec_driver_sql("CREATE TABLE filler (x)")
            conn.exec_driver_sql("INSERT INTO filler VALUES (?)", (SECRET_USER * 2000,))
    finally:
        engine.dispose()
    fault = classify(caught.value)
    assert fault is not None and (fault.kind, fault.code) == (FULL, "SQLITE_FULL")
    assert classify(caught.value.orig) == fault
    assert SECRET_USER not in str(caught.value)  # the engine hides bound parameters


def test_enospc_is_full_and_a_wrapped_one_too():
    no_space = OSError(errno.ENOSPC, "No space left on device")
    assert classify(no_space).kind == FULL  # type: ignore[union-attr]
    try:
        try:
            raise no_space
        except OSError as exc:
            raise RuntimeError("while writing") from exc
    except RuntimeError as wrapped:
        assert classify(wrapped).kind == FULL  # type: ignore[union-attr]


def test_a_postgres_server_that_is_not_there_is_a_lost_connection(tmp_path: Path):
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(host=str(tmp_path), port=5999, user="x", dbname="x", connect_timeout=2)
    assert classify(caught.value).kind == CONNECTION  # type: ignore[union-attr]


@pytest.mark.parametrize(("error", "kind"), [
    (psycopg.errors.DiskFull, FULL), (psycopg.errors.LockNotAvailable, LOCKED),
    (psycopg.errors.DeadlockDetected, LOCKED), (psycopg.errors.AdminShutdown, CONNECTION),
    (psycopg.errors.ConnectionFailure, CONNECTION), (psycopg.errors.TooManyConnections, CONNECTION),
])
def test_postgres_sqlstates_of_faults(error: type[psycopg.Error], kind: str):
    assert classify(error("server said so")).kind == kind  # type: ignore[union-attr]


def test_bugs_are_not_faults(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'bug.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE u (id TEXT PRIMARY KEY)"))
            conn.execute(text("INSERT INTO u VALUES (:v)"), {"v": SECRET_USER})
        with pytest.raises(IntegrityError) as duplicate, engine.begin() as conn:
            conn.execute(text("INSERT INTO u VALUES (:v)"), {"v": SECRET_USER})
        with pytest.raises(OperationalError) as missing, engine.connect() as conn:
            conn.execute(text("SELECT * FROM nowhere WHERE id = :v"), {"v": SECRET_USER})
    finally:
        engine.dispose()
    assert classify(duplicate.value) is None and classify(missing.value) is None
    assert classify(KeyError(SECRET_USER)) is None
    assert classify(psycopg.errors.UniqueViolation("dup")) is None
    for caught in (duplicate.value, missing.value):
        assert SECRET_USER not in describe(caught) and SECRET_USER not in str(caught)
    assert "no such table: nowhere" in describe(missing.value)


def test_a_traceback_keeps_its_frames_and_drops_messages_that_may_hold_data():
    def score(user: str) -> None:
        raise ValueError(f"cannot score {user}")

    try:
        try:
            score(SECRET_USER)
        except ValueError as exc:
            raise KeyError(SECRET_USER) from exc
    except KeyError as outer:
        told = safe_traceback(outer)
    assert SECRET_USER not in told
    assert "in score" in told and "ValueError (message withheld" in told
    assert told.count("Traceback (most recent call last)") == 2
