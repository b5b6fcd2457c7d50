"""`ottwatch users`: users' segments as the segment stage keeps them in `user_state`."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from ottwatch.commands.common import config_option, db_option, load, open_existing
from ottwatch.events import ts_to_text
from ottwatch.safe_text import dumps, plain, visible
from ottwatch.stages.segments import segment_stats
from storage.console import user_state, users_per_segment


def user_record(engine: Engine, user_id: str) -> dict[str, Any] | None:
    row = user_state(engine, user_id)
    if row is None:
        return None
    return {
        "user_id": row["user_id"], "segment": row["segment"],
        "first_seen": ts_to_text(row["first_seen"]), "last_seen": ts_to_text(row["last_seen"]),
        "events_30d": row["events_30d"], "violations_30d": row["violations_30d"],
        "consent": row["consent"],
    }


def segment_rows(engine: Engine) -> list[dict[str, Any]]:
    counts = users_per_segment(engine)
    return [{"segment": s.segment, "users": s.users, "share": round(s.share, 4)}
            for s in segment_stats(counts)]


def _consent(value: bool | None) -> str:
    return "unknown" if value is None else ("given" if value else "not given")


def _echo_json(value: Any) -> None:
    click.echo(dumps(value, indent=True))


def _open(config_path: str | None, db: str | None) -> Engine:
    return open_existing(load(config_path, db).storage.url)


@click.group("users")
def command() -> None:
    """Users' segments: new, normal, power, inactive, dormant, suspicious."""


@command.command("segment")
@click.argument("user_id")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def segment(user_id: str, config_path: str | None, db: str | None, as_json: bool) -> None:
    """USER_ID's segment, first and last seen, 30-day events and violations, consent."""
    engine = _open(config_path, db)
    record = user_record(engine, user_id)
    engine.dispose()
    if record is None:
        raise click.ClickException(f"no user {visible(user_id)!r} in user_state (the segment stage "
                                   "records users as it scores their events)")
    if as_json:
        _echo_json(record)
        return
    table = Table(show_header=False, title=Text.assemble("user ", (visible(user_id), "bold")),
                  title_justify="left", box=None)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name in ("segment", "first_seen", "last_seen", "events_30d", "violations_30d"):
        table.add_row(name.replace("_", " "), plain(record[name]))
    table.add_row("consent", Text(_consent(record["consent"])))
    Console(highlight=False).print(table)


@command.command("segments")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def segments(config_path: str | None, db: str | None, as_json: bool) -> None:
    """How many users are in each segment."""
    engine = _open(config_path, db)
    rows = segment_rows(engine)
    engine.dispose()
    if as_json:
        _echo_json(rows)
        return
    table = Table(title="users per segment", title_justify="left")
    table.add_column("segment")
    table.add_column("users", justify="right")
    table.add_column("share", justify="right")
    for row in rows:
        table.add_row(plain(row["segment"]), Text(f"{row['users']:,}"),
                      Text(f"{row['share']:.1%}"))
    table.add_row(Text("total", style="bold"), Text(f"{sum(r['users'] for r in rows):,}"),
                  Text(""))
    Console(highlight=False).print(table)
