from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.control import ControlPoller
from agent.scheduler import Job, Scheduler, next_daily, parse_daily
from storage import open_database
from storage.operator import command_status, queue_command


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_next_daily_is_strictly_after() -> None:
    assert next_daily(at("2026-11-01T01:00:00"), "03:00") == at("2026-11-01T03:00:00")
    assert next_daily(at("2026-11-01T03:00:00"), "03:00") == at("2026-11-02T03:00:00")
    assert next_daily(at("2026-11-01T23:59:00"), "00:00") == at("2026-11-02T00:00:00")
    with pytest.raises(ValueError, match="HH:MM"):
        parse_daily("25:00")


def test_scheduler_runs_due_jobs_once_at_a_time_and_survives_failures() -> None:
    now = [1000.0]
    runs: list[str] = []
    gate = threading.Event()

    def slow() -> None:
        runs.append("slow")
        gate.wait(5)

    def broken() -> None:
        runs.append("broken")
        raise RuntimeError("disk on fire")

    scheduler = Scheduler(clock=lambda: now[0], tick_s=0.01)
    scheduler.add(Job("slow", slow, every_s=0.0), run_now=True)
    scheduler.add(Job("broken", broken, every_s=60), run_now=True)
    scheduler.add(Job("later", lambda: runs.append("later"), every_s=60))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        await asyncio.sleep(0.2)
        assert runs.count("slow") == 1  # still running: not started again
        gate.set()
        now[0] += 61
        for _ in range(200):
            await asyncio.sleep(0.01)
            if "later" in runs:
                break
        stop.set()
        await task

    asyncio.run(main())
    assert "later" in runs and runs.count("broken") >= 1
    assert scheduler.jobs["broken"].last_error == "RuntimeError: disk on fire"


def test_commands_reach_the_agent_and_results_come_back(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    ok = queue_command(engine, "retrain", {"model": "ensemble"}, who="alice")
    unknown = queue_command(engine, "make-coffee", who="alice")
    boom = queue_command(engine, "explode", who="alice")

    def explode(_args: dict) -> dict:
        raise ValueError("no")

    poller = ControlPoller(engine, {"retrain": lambda args: {"trained": args["model"]},
                                    "explode": explode})
    assert poller.run_once() == 3
    assert poller.run_once() == 0
    assert command_status(engine, ok)["result"] == {"trained": "ensemble"}
    assert command_status(engine, ok)["status"] == "done"
    assert command_status(engine, unknown)["status"] == "failed"
    assert "unknown command" in command_status(engine, unknown)["result"]["error"]
    assert command_status(engine, boom)["result"]["error"] == "ValueError: no"
    with engine.connect() as conn:
        audit = conn.exec_driver_sql("SELECT actor, action FROM audit ORDER BY id").all()
    assert audit == [("alice", "retrain"), ("alice", "make-coffee"), ("alice", "explode")]


class Counter:
    name = "counter"

    def __init__(self) -> None:
        self.dirty = False
        self.value = 0

    def process(self, batch) -> None:  # noqa: ANN001
        self.value += len(batch.events)
        self.dirty = True

    def snapshot(self) -> bytes:
        return str(self.value).encode()

    def restore(self, data: bytes) -> None:
        self.value = int(data)


def test_state_is_saved_at_most_every_interval_and_at_shutdown() -> None:
    from ottwatch.events import parse_line
    from ottwatch.pipeline import Pipeline

    wall = [0.0]
    counter = Counter()
    pipeline = Pipeline([counter], persist_every_s=30, monotonic=lambda: wall[0])
    event = parse_line(b'{"event_id":"e","timestamp":"2026-11-01T00:00:00Z","user_id":"u",'
                       b'"event_type":"play"}')
    saved = [pipeline.run([event], 1.0).upserts.get("stage_state")]
    wall[0] = 10
    saved.append(pipeline.run([event], 2.0).upserts.get("stage_state"))
    wall[0] = 31
    saved.append(pipeline.run([event], 3.0).upserts.get("stage_state"))
    assert [s[0]["state"] if s else None for s in saved] == [b"1", None, b"3"]
    wall[0] = 32
    pipeline.run([event], 4.0)
    assert pipeline.save_state(5.0).upserts["stage_state"][0]["state"] == b"4"
    counter.value = 9  # changed, but the stage's own throttle has not marked it dirty
    assert pipeline.save_state(6.0).upserts["stage_state"][0]["state"] == b"9"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.batches = 0

    def consume(self, batch: Any) -> None:
        self.batches += 1


def test_a_part_timer_hears_each_stage_the_scorer_and_each_sink_once_a_batch() -> None:
    from ottwatch.events import parse_line
    from ottwatch.pipeline import Pipeline

    ticks = iter(range(0, 1000, 2))  # each reading of the clock 2 s after the last
    sink = Recorder()
    pipeline = Pipeline([Counter()], sinks=[sink], perf_counter=lambda: float(next(ticks)))
    event = parse_line(b'{"event_id":"e","timestamp":"2026-11-01T00:00:00Z","user_id":"u",'
                       b'"event_type":"play"}')
    pipeline.run([event], 1.0)  # not timed: no timer set
    heard: list[tuple[str, float, int]] = []
    pipeline.part_timer = lambda *part: heard.append(part)
    pipeline.run([event, event], 2.0)
    assert heard == [("counter", 2.0, 2), ("scorer", 2.0, 2), ("recorder", 2.0, 2)]
    assert sink.batches == 2 and pipeline.stages[0].value == 3
    heard.clear()
    pipeline.tick(3.0)  # no events: the sinks still run (deadlines), timed with 0 events
    assert heard == [("recorder", 2.0, 0)]
