"""`ottwatch replay`: the agent's pipeline over recorded logs, on event time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ottwatch.commands.common import (
    DATABASE,
    FilePath,
    config_option,
    creates_database,
    db_url,
    load,
    private_umask,
)
from ottwatch.commands.replay_compare import show_comparison
from ottwatch.commands.replay_options import forensic_options
from ottwatch.commands.replay_report import build_forensics, describe_scope, finish
from ottwatch.logs import setup_logging
from ottwatch.memory import tune_for_throughput
from ottwatch.summary import summary_table
from storage.engine import sqlite_path


@click.command("replay")
@click.argument("files", nargs=-1, required=True,
                type=FilePath(allow_dash=True))
@config_option
@click.option("--db", type=DATABASE, default="ottwatch-replay.db", metavar="PATH|URL",
              show_default=True,
              help="New database to replay into (a path or URL).")
@click.option("--overwrite", is_flag=True, help="Replace the --db file if it exists.")
@click.option("--ingest-only", is_flag=True, help="Store events without scoring them.")
@click.option("--send", is_flag=True, help="Send alerts too (by default they are only recorded).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@forensic_options
@creates_database
def command(files: tuple[str, ...], config_path: str | None, db: str, overwrite: bool,
            ingest_only: bool, send: bool, quiet: bool, stats: bool, stats_json: str | None,
            expect_path: str | None, result_path: str | None, compare_path: str | None,
            as_json: bool, **filters: Any) -> None:
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
    forensics = build_forensics(stats=stats, expect_path=expect_path, stats_json=stats_json,
                                **filters)
    config = load(config_path, db)
    second = None
    if compare_path is not None:
        from agent.compare import SecondOpinion

        second = SecondOpinion(load(compare_path, db), forensics.scope)
        quiet = quiet or as_json
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
        agent, totals = asyncio.run(run_recorded(
            config, list(files), scoring=not ingest_only, on_progress=on_progress, send=send,
            scope=forensics.scope, after_commit=[forensics.after_commit], compare=second))
    if not quiet:
        Console().print(summary_table(totals, title=f"replay into {db}"))
        if forensics.scope is not None:
            Console().print(describe_scope(forensics.scope, agent.sources[0]),
                            markup=False, highlight=False)
    if second is not None:
        show_comparison(second.finish(), as_json=as_json, a=config_path or "the config",
                        b=compare_path)
    finish(forensics, config.storage.url, stats=stats and not quiet, stats_json=stats_json,
           result_path=result_path)
