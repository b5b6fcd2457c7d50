"""A notification whose mark cannot be written (the database is locked) holds the
channel's next send until the mark is written: nothing goes out twice, nothing is
lost, and the sender logs the fault once."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from storage import open_database
from tests.alerts.conftest import T0, Harness, Receiver, settings_for
from tests.alerts.conftest import event as alert_event

BUSY_MS = 100  # the agent's 10 s would make this test wait as long


@pytest.fixture
def quick_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'ottwatch.db'}")

    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_MS}")

    event.listen(engine, "connect", short_busy_timeout)  # after the engine's own pragmas
    engine.dispose()
    yield engine
    engine.dispose()


def test_a_locked_database_holds_the_next_send_until_the_last_one_is_marked(
        quick_engine: Engine, receiver: Receiver, tmp_path: Path,
        caplog: pytest.LogCaptureFixture):
    harness = Harness(quick_engine, settings_for(receiver, urls=receiver.entries(["chat"])))
    harness.run([alert_event(n, f"u-{n}", ts=T0 + n) for n in range(3)])
    sender = harness.sender([T0 + 5])
    sender.storage.initial_s = sender.storage.max_s = 0.1
    holder = sqlite3.connect(tmp_path / "ottwatch.db", isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # readers go on (WAL), writers wait
    caplog.set_level(logging.INFO, "ottwatch.alerts")
    passing = threading.Thread(target=sender.send_due_once)
    try:
        passing.start()
        deadline = time.monotonic() + 20
        while not receiver.received("chat") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.5)  # ~10 retries of the first mark
        assert len(receiver.received("chat")) == 1
        assert {d["state"] for d in harness.deliveries()} == {"pending"}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    passing.join(20)
    assert not passing.is_alive()

    assert {d["state"] for d in harness.deliveries()} == {"sent"}
    assert receiver.alert_ids("chat") == Counter({a["alert_id"]: 1 for a in harness.alerts()})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("storage fault: database locked")
    assert "alert delivery paused" in warnings[0]
