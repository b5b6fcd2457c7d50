"""`ottwatch demo`: the product working, from nothing, in one command."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ottwatch.commands.common import load, private_umask
from ottwatch.summary import summary_table


@click.command("demo")
@click.option("-n", "--events", default=20_000, show_default=True, help="Events to stream.")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Keep the log and database here (default: a new temporary folder).")
@click.option("--rate", default=5000, show_default=True, help="Lines written per second.")
@click.option("--seed", default=7, show_default=True)
@click.option("--headless", is_flag=True, help="Summary only, no live display (scripts, CI).")
def command(events: int, folder: str | None, rate: int, seed: int, headless: bool) -> None:
    """Write a realistic synthetic OTT log while the real agent tails it into SQLite,
    showing live progress, then a summary."""
    from agent.runner import make_agent
    from agent.sources.filetail import FileTailSource
    from fixtures.generator import generate
    from ottwatch.clock import WallClock
    from storage import open_database

    private_umask()
    headless = headless or not sys.stdout.isatty()
    where = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="ottwatch-demo-"))
    where.mkdir(parents=True, exist_ok=True)
    log_path, db_path = where / "events.jsonl", where / "ottwatch.db"
    log_path.unlink(missing_ok=True)
    log_path.touch(mode=0o600)
    config = load(None, str(db_path))
    config.storage.batch_latency_ms = 50
    engine = open_database(config.storage.url)
    written = {"lines": 0, "done": False}

    def writer() -> None:
        batch = max(1, rate // 20)
        with open(log_path, "ab") as out:
            lines = generate(events, seed=seed, users=max(50, events // 20), bad_ratio=0.002)
            pending: list[bytes] = []
            for line in lines:
                pending.append(line)
                if len(pending) >= batch:
                    out.write(b"\n".join(pending) + b"\n")
                    out.flush()
                    written["lines"] += len(pending)
                    pending.clear()
                    time.sleep(batch / rate)
            if pending:
                out.write(b"\n".join(pending) + b"\n")
                written["lines"] += len(pending)
        written["done"] = True

    source = FileTailSource([str(log_path)], {}, max_line=config.ingest.max_line_bytes,
                            head=config.ingest.quarantine_raw_bytes)
    agent = make_agent(config, engine, [source], WallClock())
    stop = asyncio.Event()
    console = Console()

    def view() -> Group:
        stats = agent.stats
        elapsed = max(stats.elapsed, 1e-6)
        table = Table.grid(padding=(0, 2))
        table.add_row("written", f"{written['lines']:,} / {events:,} lines")
        table.add_row("stored", f"{stats.stored:,} events")
        table.add_row("quarantined", f"{stats.quarantined:,} lines")
        table.add_row("rate", f"{stats.stored / elapsed:,.0f} events/s")
        return Group(Text(f"ottwatch demo: tailing {log_path}", style="bold"), table)

    async def main() -> None:
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        task = asyncio.create_task(agent.run(stop))
        live = Live(view(), console=console, refresh_per_second=8, transient=True)
        with live if not headless else contextlib.nullcontext():
            while True:
                await asyncio.sleep(0.1)
                if not headless:
                    live.update(view())
                done = written["done"] and agent.stats.lines >= written["lines"]
                if done and source.caught_up.is_set():
                    break
                if task.done():
                    break
        stop.set()
        await task

    asyncio.run(main())
    console.print(summary_table(agent.stats, title="ottwatch demo"))
    console.print(f"database: {db_path}\nlog:      {log_path}")
    console.print(f"next:     ottwatch export --db {db_path} --what quarantine --format csv")
