"""The demo tells the truth: its planted account farm is found while the agent tails
the log, and its summary says so; summary tables say when they cut rows."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from agent.stats import AgentStats
from ottwatch.summary import TOP_REASONS, summary_table
from tests.conftest import REPO


def test_demo_headless_finds_its_planted_ring_and_says_so(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ottwatch", "demo", "--headless", "-n", "3000",
                           "--dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=True)
    said = re.search(r"rings:\s+(\d+) found, holding (\d+) of the (\d+) accounts of the "
                     r"(\d+) planted account farm", done.stdout)
    assert said, done.stdout
    rings, found, planted, farms = map(int, said.groups())
    assert farms >= 1 and rings >= 1 and found == planted
    with sqlite3.connect(tmp_path / "ottwatch.db") as conn:
        stored_rings = conn.execute("SELECT COUNT(*) FROM rings").fetchone()[0]
    assert stored_rings == rings


def test_the_summary_says_how_many_reasons_it_left_out() -> None:
    stats = AgentStats()
    stats.reasons.update({f"code.{n:02d}": 100 - n for n in range(TOP_REASONS + 3)})
    console = Console(width=100, record=True, color_system=None)
    console.print(summary_table(stats, title="t", elapsed=2.0))
    shown = console.export_text()
    assert "and 3 more reasons" in shown and f"{92 + 91 + 90:,}" in shown
    assert "code.07" in shown and "code.08" not in shown


def test_the_summary_measures_throughput_over_the_time_it_is_given() -> None:
    stats = AgentStats()
    stats.stored = 4000
    console = Console(width=100, record=True, color_system=None)
    console.print(summary_table(stats, title="t", elapsed=2.0))
    shown = console.export_text()
    assert "2,000 events/s" in shown and "2.00 s" in shown


def test_the_demo_agent_keeps_beating_while_idle_so_the_console_says_up(tmp_path: Path) -> None:
    import asyncio
    import time

    from agent.assembly import make_agent
    from agent.sources.filetail import FileTailSource
    from ottwatch.clock import WallClock
    from ottwatch.commands.common import load
    from ottwatch.commands.demo import keep_alive
    from storage import open_database
    from storage.heartbeat import UP, agent_health, last_beat

    log = tmp_path / "events.jsonl"
    log.touch()  # nothing to read: no batch ever commits
    config = load(None, str(tmp_path / "demo.db"))
    engine = open_database(config.storage.url)
    source = FileTailSource([str(log)], {}, max_line=config.ingest.max_line_bytes,
                            head=config.ingest.quarantine_raw_bytes)
    agent = make_agent(config, engine, [source], WallClock())
    keep_alive(engine, agent, every_s=0.2)
    beats: list[float] = []

    async def watch() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        for _ in range(10):
            await asyncio.sleep(0.3)
            if (row := last_beat(engine)) is not None:
                beats.append(row.beat_at)
        stop.set()
        await running

    asyncio.run(watch())
    assert agent.stats.stored == 0
    assert len(set(beats)) >= 3, beats  # beat again and again with nothing to do
    row = last_beat(engine)
    assert row is not None and agent_health(row.model_dump(), time.time()).state == UP
