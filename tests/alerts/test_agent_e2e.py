"""The real `ottwatch agent` process: its alerts reach the receiver, and a silence
made while it runs is honoured (then lifted)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ottwatch.alerts.store import create_silence, expire_silence
from ottwatch.events import ts_to_text
from storage import open_database
from tests.alerts.conftest import T0, Receiver


def _append(log: Path, n: int, user: str) -> None:
    line = {"event_id": f"e2e-{n}", "timestamp": ts_to_text(T0 + n), "user_id": user,
            "event_type": "login"}
    with log.open("ab") as out:
        out.write(orjson.dumps(line) + b"\n")


def test_the_agent_sends_alerts_and_honours_silences_made_while_it_runs(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any, receiver: Receiver):
    db_path, log = tmp_path / "agent.db", tmp_path / "events.jsonl"
    log.write_bytes(b"")
    config = tmp_path / "agent.toml"
    # Every event alerts (level low, routed to chat) so that no scoring stage is needed.
    config.write_text(f'[alerts]\nurls = ["chat={receiver.url("chat")}"]\nmin_level = "low"\n'
                      f"group_wait_s = 0\nrefresh_s = 0.1\nsender_poll_s = 0.1\n\n"
                      f'[alerts.routes]\nlow = ["chat"]\n', encoding="utf-8")
    agent = agent_process(str(log), "--db", str(db_path), "--log-level", "info", config=config)
    db = open_db(db_path)

    def alert_of(user: str) -> tuple[str, str] | None:
        rows = db.rows("SELECT alert_id, status FROM alerts WHERE user_id = ?", (user,))
        return rows[0] if rows else None

    _append(log, 1, "u-1")
    first, _ = agent.wait_for(lambda: alert_of("u-1"), what="the first alert")
    agent.wait_for(lambda: receiver.alert_ids("chat")[first] == 1, what="it at the receiver")
    agent.wait_for(lambda: db.rows("SELECT state FROM deliveries WHERE alert_id = ?",
                                   (first,)) == [("sent",)], what="its delivery marked sent")

    engine = open_database(f"sqlite:///{db_path}")
    try:
        silence = create_silence(engine, {"user": "u-2"}, duration_s=3600, reason="e2e",
                                 actor="test")
        agent.wait_for_log("1 silence(s) in force")
        _append(log, 2, "u-2")
        _append(log, 3, "u-3")
        third, _ = agent.wait_for(lambda: alert_of("u-3"), what="u-3's alert")
        agent.wait_for(lambda: receiver.alert_ids("chat")[third] == 1, what="u-3 at the receiver")
        second, status = alert_of("u-2")
        assert status == "silenced" and receiver.alert_ids("chat")[second] == 0

        expire_silence(engine, silence, actor="test")
        agent.wait_for(lambda: receiver.alert_ids("chat")[second] == 1,
                       what="u-2 notified once the silence ended")
        assert alert_of("u-2") == (second, "open")
    finally:
        engine.dispose()
    assert agent.stop() == 0
    assert set(receiver.alert_ids("chat").values()) == {1}
