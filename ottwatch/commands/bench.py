"""`ottwatch bench`: throughput and latency of the real loop into a real SQLite file."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console

from ottwatch.commands.common import config_option, load
from ottwatch.memory import tune_for_throughput
from ottwatch.summary import summary_table


@click.command("bench")
@config_option
@click.option("-n", "--events", default=200_000, show_default=True, help="Synthetic events.")
@click.option("--users", default=10_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--ingest-only", is_flag=True, help="Measure ingest without scoring stages.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object on the last line.")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep the log and database in this folder.")
def command(config_path: str | None, events: int, users: int, seed: int, ingest_only: bool,
            as_json: bool, keep: str | None) -> None:
    """Generate N synthetic events and push them through the agent loop (parse,
    validate, pipeline, SQLite) from a file, reporting events/s and per-event
    latency (read to commit) percentiles."""
    from agent.runner import run_recorded
    from fixtures.generator import write_log

    console = Console(stderr=True)
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="ottwatch-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log_path, db_path = folder / "bench.jsonl", folder / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    with console.status(f"generating {events:,} events"):
        write_log(log_path, events, users=users, seed=seed, rate_per_s=200.0)
    config = load(config_path, str(db_path))
    tune_for_throughput()  # as `ottwatch agent` and `replay` do
    if not config.geo.city_db:  # measure with geo lookups on: the fixture databases
        fixtures = Path(str(importlib.resources.files("fixtures")))
        config.geo.city_db = str(fixtures / "data" / "GeoLite2-City.mmdb")
        config.geo.anonymizer_lists = [str(fixtures / "anonymizers.txt")]
    started = time.perf_counter()
    console.print(f"running {events:,} events through the pipeline…")  # no spinner: it
    agent, stats = asyncio.run(run_recorded(config, [str(log_path)],  # would cost throughput
                                            scoring=not ingest_only))
    total = time.perf_counter() - started
    loop_seconds = stats.elapsed  # from the agent's start: excludes opening the database
    result = {
        "events": stats.stored,
        "seconds": round(loop_seconds, 3),
        "total_seconds": round(total, 3),
        "events_per_s": round(stats.stored / loop_seconds, 1),
        "p50_ms": round((stats.latency_percentile(50) or 0) * 1000, 2),
        "p99_ms": round((stats.latency_percentile(99) or 0) * 1000, 2),
        "ingest_only": ingest_only,
        "stages": agent.pipeline.stage_names,
        "batch_size": config.storage.batch_size,
    }
    Console().print(summary_table(stats, title="ottwatch bench"))
    if as_json:
        click.echo(json.dumps(result))
    if not keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
