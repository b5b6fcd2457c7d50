"""`ottwatch status`: is the agent up, where each source is, lag, outbox, last retrain
and last errors, from the database the agent writes (its heartbeat row and the rest).
It decides up / stopped / down as the console's status bar does."""

from __future__ import annotations

import time
from typing import Any

import click
from sqlalchemy import Engine

from ottwatch.commands.common import config_option, db_option, load
from ottwatch.config import mask_url


def status_record(engine: Engine, now: float) -> dict[str, Any]:
    from storage import health
    from storage.console import heartbeat, newest_event_ts
    from storage.heartbeat import agent_health, lag_s

    beat = heartbeat(engine)
    state = agent_health(beat, now)
    info = (beat or {}).get("info") or {}
    newest = newest_event_ts(engine)
    counted: dict[str, dict[str, Any]] = info.get("sources") or {}
    positions = health.positions(engine)
    sources = [{"source": name, "position": positions.get(name),
                **counted.get(name, {"lines": None, "stored": None, "quarantined": None,
                                     "last_line_at": None})}
               for name in sorted({*positions, *counted})]
    return {
        "agent": {"state": state.state, "pid": state.pid,
                  "since_heartbeat_s": state.since_beat_s, "stale_after_s": state.stale_after_s,
                  "started_at": (beat or {}).get("started_at"),
                  "heartbeat_at": (beat or {}).get("beat_at")},
        "newest_event_ts": newest,
        "lag_s": lag_s(newest, now),
        "sources": sources,
        "outbox": health.outbox_backlog(engine),
        "last_retrain": health.last_retrain(engine),
        "errors": info.get("errors") or {},
    }


def refuse_missing(url: str) -> None:
    """A SQLite file that is not there is refused (one line, nothing created)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        from pathlib import Path

        if not Path(parsed.database).exists():
            raise click.ClickException(f"no database at {parsed.database}")


@click.command("status")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def command(config_path: str | None, db: str | None, as_json: bool) -> None:
    """Is the agent up, stopped or down; each source's position and last line, lag,
    the outbox, the last retrain and the last errors. Exit status 0 when the agent is
    up, 1 when not."""
    from ottwatch.safe_text import dumps
    from storage import open_database

    url = load(config_path, db).storage.url
    refuse_missing(url)
    engine = open_database(url)
    try:
        record = status_record(engine, time.time())
    finally:
        engine.dispose()
    if as_json:
        click.echo(dumps({"database": mask_url(url), **record}, indent=True))
    else:
        from rich.console import Console

        Console(highlight=False).print(render(record, mask_url(url)))
    raise SystemExit(0 if record["agent"]["state"] == "up" else 1)


def render(record: dict[str, Any], database: str) -> Any:
    from rich.table import Table
    from rich.text import Text

    from ottwatch.events import ts_to_text
    from ottwatch.safe_text import plain
    from tui.safe import ago

    def when(ts: float | None) -> str:
        return "-" if ts is None else ts_to_text(ts)

    agent = record["agent"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    since = agent["since_heartbeat_s"]
    described = {
        "up": f"up, pid {agent['pid']} (heartbeat {ago(since or 0)} ago)",
        "stopped": f"stopped cleanly {ago(since or 0)} ago (pid {agent['pid']})",
        "down": f"DOWN: no heartbeat for {ago(since or 0)} and no clean stop (pid "
                f"{agent['pid']})",
        "never seen": "never seen: no agent has written to this database",
    }[agent["state"]]
    grid.add_row("agent", Text(described, style={"up": "green", "stopped": "yellow"}.get(
        agent["state"], "bold red")))
    grid.add_row("database", plain(database))
    lag = record["lag_s"]
    grid.add_row("lag", "-" if lag is None else
                 f"{ago(lag)} (newest event {when(record['newest_event_ts'])})")
    grid.add_row("outbox", f"{record['outbox']:,} waiting")
    grid.add_row("last retrain", when(record["last_retrain"]))
    errors = record["errors"]
    grid.add_row("errors", plain("; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
                                 if errors else "none"))
    for source in record["sources"]:
        position = source["position"]
        last = source["last_line_at"]
        parts = ["-" if position is None else f"at byte {position:,}",
                 "no line this run" if last is None else f"last line {when(last)}"]
        if source["lines"] is not None:
            parts.append(f"{source['lines']:,} lines, {source['quarantined']:,} quarantined "
                         "this run")
        grid.add_row(plain(source["source"]), "; ".join(parts))
    return grid
