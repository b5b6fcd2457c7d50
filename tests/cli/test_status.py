"""`ottwatch status --json` and the console's status bar agree on up, stopped and down:
up while an idle agent keeps beating, stopped after SIGTERM, down after kill -9."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from textual.pilot import Pilot

from fixtures.generator import generate
from storage import open_database
from tests.conftest import AgentProcess, Database, poll_until
from tui.app import OttwatchApp
from tui.statusbar import StatusBar

pytestmark = pytest.mark.anyio
HEARTBEAT_S = 0.5  # down after four missed beats: 2 s


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def future_line(seconds: float) -> bytes:
    """A valid event stamped `seconds` ahead of now (within the allowed skew)."""
    record = orjson.loads(next(iter(generate(1, seed=3))))
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    record["timestamp"] = at.isoformat().replace("+00:00", "Z")
    return orjson.dumps(record) + b"\n"


def status(ottwatch: Callable[..., subprocess.CompletedProcess[str]], db: Path
           ) -> tuple[int, dict[str, Any]]:
    done = ottwatch("status", "--db", str(db), "--json")
    return done.returncode, json.loads(done.stdout)


async def status_bar(pilot: Pilot) -> str:
    app = pilot.app
    app.refresh_views()
    for _ in range(100):
        await pilot.pause(0.05)
        if not any(w.is_running for w in app.workers):
            break
    console = Console(width=300, file=io.StringIO(), record=True, color_system=None)
    console.print(app.query_one(StatusBar).content)
    return console.export_text()


async def test_status_and_console_agree_on_up_stopped_and_down(
        tmp_path: Path, agent_process: Callable[..., AgentProcess], open_db: type[Database],
        ottwatch: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    log = tmp_path / "app.jsonl"
    log.write_bytes(future_line(600))
    config = tmp_path / "agent.toml"
    config.write_text(f"[metrics]\nheartbeat_s = {HEARTBEAT_S}\n", encoding="utf-8")
    db = open_db(tmp_path / "agent.db")

    first = agent_process(str(log), "--db", str(db.path), config=config)
    first.wait_for(lambda: db.count() == 1, what="the event stored")
    # Idle for well past the staleness window: heartbeats keep coming without lines.
    first.wait_for(lambda: db.rows("SELECT beat_at - started_at FROM heartbeat")[0][0] > 6,
                   what="six seconds of idle heartbeats")
    app = OttwatchApp(open_database(f"sqlite:///{db.path}"), database="agent.db",
                      refresh_s=3600)
    async with app.run_test(size=(160, 40)) as pilot:
        code, record = status(ottwatch, db.path)
        assert (code, record["agent"]["state"], record["agent"]["pid"]) == (0, "up", first.pid)
        assert record["lag_s"] == 0.0, "an event ahead of the clock is no lag"
        [source] = record["sources"]
        assert source["position"] == log.stat().st_size and source["lines"] == 1
        bar = await status_bar(pilot)
        assert f"agent up pid {first.pid}" in bar and "lag 0s" in bar, bar

        assert first.stop() == 0, first.stderr()
        code, record = status(ottwatch, db.path)
        assert (code, record["agent"]["state"]) == (1, "stopped")
        assert "agent stopped" in await status_bar(pilot)

        second = agent_process(str(log), "--db", str(db.path), config=config)
        second.wait_for(lambda: status(ottwatch, db.path)[1]["agent"]["pid"] == second.pid,
                        what="the second agent's heartbeat")
        assert "agent up" in await status_bar(pilot)
        second.kill()
        assert second.proc.returncode == -9
        assert db.rows("SELECT state FROM heartbeat") == [("running",)]

        def down() -> dict[str, Any] | None:
            code, record = status(ottwatch, db.path)
            return record if code == 1 and record["agent"]["state"] == "down" else None

        record = poll_until(down, 30, what="status to say down")
        assert record["agent"]["since_heartbeat_s"] > record["agent"]["stale_after_s"] == 2.0
        assert "agent down" in await status_bar(pilot)


def test_status_refuses_a_database_that_does_not_exist(
        tmp_path: Path, ottwatch: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    missing = tmp_path / "none.db"
    done = ottwatch("status", "--db", str(missing))
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: no database at {missing}"
    assert not missing.exists()
