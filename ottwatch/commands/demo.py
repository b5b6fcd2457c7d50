"""`ottwatch demo`: the product working, from nothing, in one command."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ottwatch.commands.common import creates_database, load, make_folder, private_umask
from ottwatch.memory import tune_for_throughput
from ottwatch.summary import summary_table

FIXTURES = Path(str(importlib.resources.files("fixtures")))


class LogWriter(threading.Thread):
    """Appends the demo's lines to the log at a steady rate, as a live service would."""

    def __init__(self, path: Path, lines: list[bytes], rate: int) -> None:
        super().__init__(daemon=True, name="ottwatch-demo-writer")
        self.path, self.lines, self.rate = path, lines, rate
        self.written = 0
        self.done = threading.Event()
        self.cancel = threading.Event()

    def run(self) -> None:
        step = max(1, self.rate // 20)
        with open(self.path, "ab") as out:
            for start in range(0, len(self.lines), step):
                if self.cancel.is_set():
                    break
                part = self.lines[start:start + step]
                out.write(b"\n".join(part) + b"\n")
                out.flush()
                self.written += len(part)
                time.sleep(len(part) / self.rate)
        self.done.set()


class CatchUp:
    """When the agent had read every line the writer wrote: the demo's throughput is
    measured up to then, not over the time the console stays open afterwards."""

    def __init__(self, agent, writer: LogWriter) -> None:  # noqa: ANN001
        self.agent, self.writer = agent, writer
        self.at: float | None = None

    def __call__(self, *_: object) -> None:
        if self.at is None and self.writer.done.is_set() \
                and self.agent.stats.lines >= self.writer.written:
            self.at = time.perf_counter()

    @property
    def elapsed(self) -> float | None:
        return None if self.at is None else self.at - self.agent.stats.started


def rings_found(engine, truth) -> str:  # noqa: ANN001
    """The rings the agent found, against the account farms the log planted."""
    from storage import console as reads

    rings = reads.rings(engine)
    found = {member for ring in rings for member in ring["members"]}
    farms = truth.of_kind("account_farm")
    planted = [farm["users"] for farm in farms]
    recovered = sum(1 for users in planted for user in users if user in found)
    return (f"rings:    {len(rings)} found, holding {recovered} of the "
            f"{sum(map(len, planted))} accounts of the {len(planted)} planted account farm"
            f"{'' if len(planted) == 1 else 's'}")


class Heartbeat:
    """The demo's agent says it is alive, as `ottwatch agent` does, for the status bar."""

    def __init__(self, engine, agent, every_s: float = 2.0) -> None:  # noqa: ANN001
        self.engine, self.agent, self.every_s = engine, agent, every_s
        self.started = time.time()
        self.last = 0.0

    def __call__(self, *_: object) -> None:
        from storage.heartbeat import beat

        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            beat(self.engine, "agent", pid=os.getpid(), started_at=self.started,
                 info={"stored": self.agent.stats.stored,
                       "quarantined": self.agent.stats.quarantined}, every_s=self.every_s)


def keep_alive(engine, agent, every_s: float = 2.0) -> Heartbeat:  # noqa: ANN001
    """Beat after each batch and while idle too: the console says "up", not "down", once
    the log is all read."""
    heartbeat = Heartbeat(engine, agent, every_s)
    agent.after_commit.append(heartbeat)
    agent.on_idle.append(heartbeat)
    return heartbeat


@click.command("demo")
@click.option("-n", "--events", default=20_000, show_default=True,
              help="About this many events (within 10%; 25% under 1,000 users), ending now.")
@click.option("--days", default=14.0, show_default=True, help="Days of event time.")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Keep the log and database here (default: a new temporary folder).")
@click.option("--rate", default=2000, show_default=True, help="Lines written per second.")
@click.option("--seed", default=7, show_default=True)
@click.option("--headless", is_flag=True,
              help="No console: a progress line and a summary (scripts, CI). Automatic when "
                   "not on a terminal.")
@creates_database
def command(events: int, days: float, folder: str | None, rate: int, seed: int,
            headless: bool) -> None:
    """Stream a realistic synthetic OTT log while the real agent tails it into SQLite;
    on a terminal the console opens on it. The log (docs/realistic-stream.md) has ISP
    pools, carrier NAT, households, travellers and signups, attackers among real users
    (account farms, credential stuffing and takeovers, scrapers, injection probes, bulk
    exports, plan sharing) and a few malformed lines; its DAYS of event time end now."""
    from agent.assembly import make_agent
    from agent.sources.filetail import FileTailSource
    from fixtures.realistic import StreamSpec, realistic_lines
    from fixtures.realistic.truth import Truth
    from ottwatch.clock import WallClock
    from storage import open_database

    private_umask()
    tune_for_throughput()
    headless = headless or not (sys.stdout.isatty() and sys.stdin.isatty())
    where = make_folder(Path(folder)) if folder else Path(tempfile.mkdtemp(prefix="ottwatch-demo-"))
    log_path, db_path = where / "events.jsonl", where / "ottwatch.db"
    for stale in (log_path, db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    log_path.touch(mode=0o600)
    config = load(None, str(db_path))
    config.geo.city_db = str(FIXTURES / "data" / "GeoLite2-City.mmdb")
    config.geo.anonymizer_lists = [str(FIXTURES / "anonymizers.txt")]
    engine = open_database(config.storage.url)
    start = datetime.fromtimestamp(time.time() // 3600 * 3600 - days * 86_400, UTC)
    spec = StreamSpec(users=max(100, events // 25), days=days, events=events, seed=seed,
                      start=start.isoformat().replace("+00:00", "Z"), bad_ratio=0.002)
    truth = Truth()
    lines = list(realistic_lines(spec, truth))
    writer = LogWriter(log_path, lines, rate)
    source = FileTailSource([str(log_path)], {}, max_line=config.ingest.max_line_bytes,
                            head=config.ingest.quarantine_raw_bytes)
    agent = make_agent(config, engine, [source], WallClock())
    keep_alive(engine, agent)
    caught_up = CatchUp(agent, writer)
    agent.after_commit.append(caught_up)
    console = Console()

    if headless:
        asyncio.run(_run_headless(agent, source, writer, console, log_path))
    else:
        _run_with_console(agent, writer, engine, db_path)
    console.print(summary_table(agent.stats, title="ottwatch demo", elapsed=caught_up.elapsed))
    console.print(rings_found(engine, truth), markup=False, highlight=False)
    console.print(f"database: {db_path}\nlog:      {log_path}")
    console.print(f"next:     ottwatch tui --db {db_path}")


def _progress(agent, writer: LogWriter, log_path: Path) -> Group:  # noqa: ANN001
    stats = agent.stats
    table = Table.grid(padding=(0, 2))
    table.add_row("written", f"{writer.written:,} / {len(writer.lines):,} lines")
    table.add_row("stored", f"{stats.stored:,} events")
    table.add_row("quarantined", f"{stats.quarantined:,} lines")
    table.add_row("rate", f"{stats.stored / max(stats.elapsed, 1e-6):,.0f} events/s")
    return Group(Text(f"ottwatch demo: tailing {log_path}", style="bold"), table)


async def _run_headless(agent, source, writer: LogWriter, console: Console,  # noqa: ANN001
                        log_path: Path) -> None:
    stop = asyncio.Event()
    writer.start()
    task = asyncio.create_task(agent.run(stop))
    live = Live(_progress(agent, writer, log_path), console=console, transient=True,
                refresh_per_second=8)
    with live if console.is_terminal else contextlib.nullcontext():
        while not task.done():
            await asyncio.sleep(0.1)
            if console.is_terminal:
                live.update(_progress(agent, writer, log_path))
            if writer.done.is_set() and agent.stats.lines >= writer.written \
                    and source.caught_up.is_set():
                break
    stop.set()
    await task


def _run_with_console(agent, writer: LogWriter, engine, db_path: Path) -> None:  # noqa: ANN001
    """The agent on a thread of its own; the console in front until the user quits."""
    from tui.app import OttwatchApp

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    runner = threading.Thread(target=lambda: loop.run_until_complete(agent.run(stop)),
                              name="ottwatch-demo-agent", daemon=True)
    writer.start()
    runner.start()
    try:
        OttwatchApp(engine, database=f"{db_path} (demo)").run()
    finally:
        writer.cancel.set()
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=30)
