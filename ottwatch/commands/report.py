"""`ottwatch report incident|compliance|models`: reports to attach to an incident
ticket or file with a regulator, as Markdown, one self-contained HTML file or JSON."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import click

from ottwatch.commands.common import (
    FilePath,
    Refusal,
    config_option,
    db_option,
    load,
    open_existing,
    private_umask,
)
from ottwatch.vocabulary import DAY_S

format_option = click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]),
                             default="md", show_default=True)
out_option = click.option("--out", type=FilePath(allow_dash=True), default="-",
                          help="Write here (default stdout), readable by the owner only.")
since_option = click.option("--since", default=None, metavar="TIME",
                            help="RFC 3339 (2026-09-03T02:00:00Z) or before now (-2h, -7d).")
until_option = click.option("--until", default=None, metavar="TIME",
                            help="As --since; the end is not included. Default: now.")


def _window(since: str | None, until: str | None, default_days: float | None) -> Any:
    """No --until: up to now for a period report (`default_days` long), open for an
    incident (its events decide)."""
    from ottwatch.forensics.window import Window, parse_instant

    now = time.time()
    try:
        end = parse_instant(until, now) if until else (now if default_days is not None
                                                       else math.inf)
        start = parse_instant(since, now) if since else (
            end - default_days * DAY_S if default_days is not None else -math.inf)
        return Window(start, end)
    except ValueError as exc:
        raise Refusal(str(exc)) from None


def _write(text: str, out: str) -> None:
    if out == "-":
        sys.stdout.write(text)
        return
    private_umask()
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"wrote {out}", err=True)


@click.group("report")
def command() -> None:
    """Reports: incident (a user, ring, IP or alert), compliance (a period), models."""


@command.command("incident")
@config_option
@db_option
@click.option("--user", "user_id", default=None, help="The account.")
@click.option("--ring", "ring_id", default=None, help="A ring's id (`ottwatch rings`).")
@click.option("--ip", default=None, help="An IP address.")
@click.option("--alert", "alert_id", default=None, help="An alert's id (`ottwatch alerts`).")
@since_option
@until_option
@format_option
@out_option
def incident(config_path: str | None, db: str | None, user_id: str | None,
             ring_id: str | None, ip: str | None, alert_id: str | None, since: str | None,
             until: str | None, fmt: str, out: str) -> None:
    """Timeline, reasons, linked accounts, rings, alerts with who acknowledged them, and
    the evidence events of one subject (default window: all of it)."""
    from ottwatch.reports.gather import SubjectNotFound, incident_report
    from ottwatch.reports.render import render

    given = [(kind, value) for kind, value in (("user", user_id), ("ring", ring_id),
                                               ("ip", ip), ("alert", alert_id)) if value]
    if len(given) != 1:
        raise Refusal("name one subject: --user, --ring, --ip or --alert")
    window = _window(since, until, None)
    engine = open_existing(load(config_path, db).storage.url)
    try:
        report = incident_report(engine, *given[0], window.since, window.until)
    except SubjectNotFound as exc:
        raise Refusal(str(exc)) from None
    _write(render(report, fmt, written=time.time()), out)


@command.command("compliance")
@config_option
@db_option
@since_option
@until_option
@format_option
@out_option
def compliance(config_path: str | None, db: str | None, since: str | None, until: str | None,
               fmt: str, out: str) -> None:
    """Per regulation: requests opened in the period, fulfilled on time, late, open with
    time left; breaches and their notification; consent coverage; the law's sources
    (default period: the 30 days before --until)."""
    from ottwatch.reports.gather import compliance_report
    from ottwatch.reports.render import render

    window = _window(since, until, 30)
    config = load(config_path, db)
    engine = open_existing(config.storage.url)
    report = compliance_report(engine, config, window.since, window.until)
    _write(render(report, fmt, written=time.time()), out)


@command.command("models")
@config_option
@db_option
@since_option
@until_option
@format_option
@out_option
def models(config_path: str | None, db: str | None, since: str | None, until: str | None,
           fmt: str, out: str) -> None:
    """Model versions with held-out metrics and drift, and the labels given in the period
    (default: the 30 days before --until)."""
    from ottwatch.reports.gather import models_report
    from ottwatch.reports.render import render

    window = _window(since, until, 30)
    engine = open_existing(load(config_path, db).storage.url)
    report = models_report(engine, window.since, window.until)
    _write(render(report, fmt, written=time.time()), out)
