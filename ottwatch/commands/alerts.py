"""`ottwatch alerts`: list, show, acknowledge and silence alerts; test the channels."""

from __future__ import annotations

import socket
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from ottwatch.commands.common import config_option, db_option, load, open_existing
from ottwatch.config import Config, ConfigError
from ottwatch.durations import EXAMPLES, parse_duration
from ottwatch.events import ts_to_text
from ottwatch.safe_text import dumps, plain, visible

STATUSES = ("open", "acked", "silenced", "resolved")
def _config(config_path: str | None, db: str | None) -> Config:
    return load(config_path, db)


def _engine(config: Config) -> Engine:
    return open_existing(config.storage.url)


def _echo_json(value: Any) -> None:
    click.echo(dumps(value, indent=True))


def _when(ts: float | None) -> str:
    return ts_to_text(ts)[:19].replace("T", " ") if ts is not None else "-"


@click.group("alerts")
def command() -> None:
    """Alerts: list, show, acknowledge, silence; test the notification channels."""


@command.command("list")
@config_option
@db_option
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_command(config_path: str | None, db: str | None, status: str | None, limit: int,
                 as_json: bool) -> None:
    """The newest alerts first."""
    from ottwatch.alerts.export import alert_record
    from ottwatch.alerts.store import list_alerts

    rows = list_alerts(_engine(_config(config_path, db)), status=status, limit=limit)
    if as_json:
        _echo_json([{**alert_record(r), "count": r["count"],
                     "updated_at": ts_to_text(r["updated_at"])} for r in rows])
        return
    table = Table(title=f"{len(rows)} alert{'s' if len(rows) != 1 else ''}")
    table.add_column("alert", no_wrap=True, min_width=19)
    table.add_column("created (UTC)", no_wrap=True)
    for name in ("severity", "status", "count"):
        table.add_column(name)
    table.add_column("title", ratio=1)
    for r in rows:
        table.add_row(plain(r["alert_id"]), plain(_when(r["created_at"])), plain(r["severity"]),
                      plain(r["status"]), plain(r["count"]), plain(r["title"]))
    Console(soft_wrap=True).print(table)


@command.command("show")
@click.argument("alert_id")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
def show_command(alert_id: str, config_path: str | None, db: str | None, as_json: bool) -> None:
    """One alert: its record, body and deliveries."""
    from ottwatch.alerts.export import alert_record
    from ottwatch.alerts.store import alert_deliveries, audit_rows, get_alert

    engine = _engine(_config(config_path, db))
    row = get_alert(engine, alert_id)
    if row is None:
        raise click.ClickException(f"no alert {visible(alert_id)}")
    deliveries = alert_deliveries(engine, alert_id)
    history = [{"at": ts_to_text(a["at"]), "actor": a["actor"], "action": a["action"],
                "note": (a["detail"] or {}).get("note", "")} for a in audit_rows(engine, alert_id)]
    if as_json:
        _echo_json({**alert_record(row), "count": row["count"], "group_key": row["group_key"],
                    "updated_at": ts_to_text(row["updated_at"]),
                    "deliveries": [_delivery_record(d) for d in deliveries],
                    "history": history})
        return
    click.echo(visible(row["title"]))
    click.echo(f"status {visible(row['status'])} · count {row['count']} · created "
               f"{_when(row['created_at'])}"
               f" · updated {_when(row['updated_at'])} · group {visible(row['group_key'])}")
    click.echo("")
    click.echo(visible(row["body"], keep_newlines=True))
    click.echo("")
    if not deliveries:
        click.echo("deliveries: none (low severity, no channel on its route, or not sending)")
    for d in deliveries:
        record = _delivery_record(d)
        click.echo(f"delivery {record['id']} to {visible(record['channel'])}: "
                   f"{visible(record['state'])}, {record['attempts']} attempt(s)"
                   + (f", sent {_when(d['sent_at'])}" if d["sent_at"] else "")
                   + (f", last error: {visible(record['last_error'])}"
                      if record["last_error"] else ""))
    for entry in history:
        click.echo(f"{visible(entry['action'])} by {visible(entry['actor'])} at "
                   f"{entry['at'][:19]}Z" + (f": {visible(entry['note'])}" if entry["note"] else ""))


def _delivery_record(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "channel": d["channel"], "state": d["state"],
            "attempts": d["attempts"], "last_error": d["last_error"],
            "created_at": ts_to_text(d["created_at"]),
            "sent_at": ts_to_text(d["sent_at"]) if d["sent_at"] else None}


@command.command("ack")
@click.argument("alert_id")
@config_option
@db_option
@click.option("--note", default="", help="Why, or who is on it (kept in the audit trail).")
def ack_command(alert_id: str, config_path: str | None, db: str | None, note: str) -> None:
    """Acknowledge an alert: no more notifications for it unless it gets worse."""
    from ottwatch.alerts.store import ack_alert, os_user

    actor = os_user()
    if not ack_alert(_engine(_config(config_path, db)), alert_id, actor=actor, note=note):
        raise click.ClickException(f"no alert {visible(alert_id)}")
    click.echo(f"acknowledged {visible(alert_id)} (by {visible(actor)})")


@command.command("silence")
@config_option
@db_option
@click.option("--user", default=None, help="A user id (glob).")
@click.option("--ring", default=None, help="A ring id (glob).")
@click.option("--code", default=None, help="A reason or finding code (glob, e.g. 'geo.*').")
@click.option("--regulation", default=None, help="A regulation id (glob).")
@click.option("--request", default=None, help="A request id (glob).")
@click.option("--severity", default=None, help="A severity (glob).")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE",
              help="Any other label: alert_id, group_key, segment, ... (repeatable).")
@click.option("--for", "duration", required=True, help=f"How long: {EXAMPLES}.")
@click.option("--reason", required=True, help="Why (kept with the silence).")
def silence_command(config_path: str | None, db: str | None, user: str | None,
                    ring: str | None, code: str | None, regulation: str | None,
                    request: str | None, severity: str | None, labels: tuple[str, ...],
                    duration: str, reason: str) -> None:
    """Silence the alerts matching every given label: still recorded, not notified."""
    from ottwatch.alerts.store import create_silence, os_user

    matchers: dict[str, str] = {k: v for k, v in (
        ("user_id", user), ("ring_id", ring), ("code", code), ("regulation", regulation),
        ("request_id", request), ("severity", severity)) if v}
    for pair in labels:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--label")
        matchers[name.strip()] = value.strip()
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    actor = os_user()
    try:
        silence_id = create_silence(_engine(_config(config_path, db)), matchers,
                                    duration_s=seconds, reason=reason, actor=actor)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    shown = visible(" ".join(f"{k}={v}" for k, v in matchers.items()))
    click.echo(f"silence {silence_id}: {shown} for {visible(duration)} (by {visible(actor)}); "
               f"end it with `ottwatch alerts unsilence {silence_id}`")


@command.command("unsilence")
@click.argument("silence_id", type=int)
@config_option
@db_option
def unsilence_command(silence_id: int, config_path: str | None, db: str | None) -> None:
    """End a silence now."""
    from ottwatch.alerts.store import expire_silence, os_user

    actor = os_user()
    if not expire_silence(_engine(_config(config_path, db)), silence_id, actor=actor):
        raise click.ClickException(f"no silence {silence_id}")
    click.echo(f"silence {silence_id} ended (by {actor})")


@command.command("silences")
@config_option
@db_option
@click.option("--all", "include_expired", is_flag=True, help="Expired ones too.")
def silences_command(config_path: str | None, db: str | None, include_expired: bool) -> None:
    """Silences in force (or all of them)."""
    from ottwatch.alerts.silences import Silence
    from ottwatch.alerts.store import list_silences

    rows = list_silences(_engine(_config(config_path, db)), include_expired=include_expired)
    table = Table("id", "matches", "until (UTC)", "by", "reason",
                  title=f"{len(rows)} silence{'s' if len(rows) != 1 else ''}")
    for r in rows:
        table.add_row(plain(r["id"]), plain(Silence.from_row(r).describe()),
                      plain(_when(r["expires_at"])), plain(r["created_by"]), plain(r["reason"]))
    Console(soft_wrap=True).print(table)


@command.command("test")
@config_option
@click.option("--route", default=None,
              help="Only the channels of this route: a severity, an override's name or a tag.")
def test_command(config_path: str | None, route: str | None) -> None:
    """Send a test notification to each configured channel and say what happened."""
    from ottwatch.alerts.channels import load_channels, notify_channel
    from ottwatch.alerts.routing import Router
    from ottwatch.alerts.settings import AlertSettings
    from ottwatch.logs import setup_logging

    config = _config(config_path, None)
    setup_logging(config.log.level)  # [log] level = "debug" shows apprise's lines, masked
    try:
        settings = AlertSettings.from_config(config.alerts)
        channels = load_channels(settings)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not channels:
        raise click.ClickException("no channels: set [alerts] urls or [alerts] config_file")
    if route is not None:
        picked = Router(settings, channels).named_route(route)
        if picked is None:
            raise click.ClickException(f"no route, override or tag named {route!r}")
        channels = list(picked)
        if not channels:
            click.echo(f"route {route!r} has no channel (log only)")
            return
    host = socket.gethostname()
    title = f"[TEST] ottwatch.test — {host}"
    body = (f"A test notification from ottwatch on {host}"
            f"{f' (route {route})' if route else ''}. Nothing to do.")
    failed = 0
    for channel in channels:
        ok, error = notify_channel(channel, title=title, body=body,
                                   body_format=settings.body_format)
        failed += not ok
        click.echo(f"{'ok    ' if ok else 'FAILED'} {visible(channel.describe())}"
                   + (f": {visible(error)}" if error else ""))
    if failed:
        raise click.ClickException(f"{failed} of {len(channels)} channel(s) failed")
