"""`ottwatch replay`: the agent's pipeline over recorded logs, on event time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ottwatch.commands.common import (
    DATABASE,
    config_option,
    creates_database,
    db_url,
    load,
    private_umask,
)
from ottwatch.logs import setup_logging
from ottwatch.memory import tune_for_throughput
from ottwatch.summary import summary_table
from storage.engine import sqlite_path


@click.command("replay")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, allow_dash=True))
@config_option
@click.option("--db", type=DATABASE, default="ottwatch-replay.db", metavar="PATH|URL",
              show_default=True,
              help="New database to replay into (a path or URL).")
@click.option("--overwrite", is_flag=True, help="Replace the --db file if it exists.")
@click.option("--ingest-only", is_flag=True, help="Store events without scoring them.")
@click.option("--send", is_flag=True, help="Send alerts too (by default they are only recorded).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@creates_database
def command(files: tuple[str, ...], config_path: str | None, db: str, overwrite: bool,
            ingest_only: bool, send: bool, quiet: bool) -> None:
    """Run the full pipeline over recorded FILES (plain or .gz, `-` for stdin) in order.

    Time is event time, so the same input and config always give the same
    assessments and alerts; deadlines fire at the event time they fall due.
    A line more than [ingest] max_future_skew_s ahead of the wall clock, or of
    the newest event time before it (unless the lines after it follow: a gap in
    the log), is quarantined as timestamp_in_future and does not move the clock.
    """
    from agent.replay import run_recorded
    from agent.sources.recorded import total_size

    private_umask()
    tune_for_throughput()
    config = load(config_path, db)
    setup_logging(config.log.level)
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise click.ClickException(f"{name}: no such file")
    path = sqlite_path(db_url(db))
    if path is not None and path.exists():
        if not overwrite:
            raise click.ClickException(f"{path} exists; replay writes a new database "
                                       "(pass --overwrite to replace it, or another --db)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    console = Console(stderr=True)
    progress = Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TextColumn("{task.fields[events]:,} events"), TimeRemainingColumn(),
                        console=console, disable=quiet, transient=True)
    task = progress.add_task("replay", total=total_size(list(files)), events=0)

    def on_progress(agent, source) -> None:  # noqa: ANN001
        progress.update(task, completed=source.bytes_read, events=agent.stats.stored)

    with progress:
        agent, stats = asyncio.run(run_recorded(config, list(files), scoring=not ingest_only,
                                                on_progress=on_progress, send=send))
    if not quiet:
        Console().print(summary_table(stats, title=f"replay into {db}"))
