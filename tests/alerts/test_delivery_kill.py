"""kill -9 of the real agent in the middle of a slow receiver's sending pass, again and
again: every alert arrives, and each kill costs at most one extra copy (the
notification in flight), because each is marked sent as its send returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ottwatch.events import ts_to_text
from tests.alerts.conftest import T0, Receiver

ALERTS = 24
KILLS = 5
ANSWER_AFTER_S = 0.4


@pytest.fixture
def slow_receiver() -> Iterator[Receiver]:
    # records a notification when it arrives, then takes a while to answer: a sender
    # killed meanwhile has delivered it without knowing
    server = Receiver(answer_after_s=ANSWER_AFTER_S)
    yield server
    server.refuse()


def test_kill_9_mid_pass_resends_at_most_the_notification_in_flight(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any,
        slow_receiver: Receiver):
    log, db = tmp_path / "events.jsonl", open_db(tmp_path / "agent.db")
    config = tmp_path / "agent.toml"
    # Every event alerts at low, routed to chat; one alert per user, no storm digest.
    config.write_text(f'[alerts]\nurls = ["chat={slow_receiver.url("chat")}"]\n'
                      f'min_level = "low"\ngroup_wait_s = 0\nstorm_limit = 0\n'
                      f"sender_poll_s = 0.1\n\n[alerts.routes]\nlow = [\"chat\"]\n",
                      encoding="utf-8")
    with log.open("wb") as out:
        for n in range(ALERTS):
            out.write(orjson.dumps({"event_id": f"kill-{n}", "timestamp": ts_to_text(T0 + n),
                                    "user_id": f"u-{n}", "event_type": "login"}) + b"\n")

    def posts() -> int:
        return len(slow_receiver.received("chat"))

    kills = 0
    while kills < KILLS:
        agent = agent_process(str(log), "--db", str(db.path), config=config)
        # Several notifications of this run's pass went out before the kill, the last
        # one still waiting for its answer.
        wanted = posts() + 2 + kills % 3
        agent.wait_for(lambda w=wanted: posts() >= w, what="notifications from this run")
        agent.kill()
        kills += 1
        assert db.rows("SELECT 1 FROM deliveries WHERE state != 'sent'"), \
            "the pass ended before the kill"

    agent = agent_process(str(log), "--db", str(db.path), config=config)
    agent.wait_for(lambda: db.count("deliveries") >= ALERTS and not db.rows(
        "SELECT 1 FROM deliveries WHERE state != 'sent'"), 120, what="every delivery sent")
    assert agent.stop() == 0

    copies = slow_receiver.alert_ids("chat")
    alert_ids = {row[0] for row in db.rows("SELECT alert_id FROM alerts")}
    assert len(alert_ids) == ALERTS and set(copies) == alert_ids  # none lost
    extra = sum(copies.values()) - ALERTS
    print(f"{extra} extra copies for {KILLS} kills")  # shown with -s
    assert extra <= KILLS, f"{extra} extra copies for {KILLS} kills: {copies}"
