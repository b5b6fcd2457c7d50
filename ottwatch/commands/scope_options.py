"""`--since/--until` and the filters of the commands that read a database (`export`,
`explain --user`): the same words as `replay`'s, resolved against the database (a ring
is its members as stored)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from ottwatch.commands.common import Refusal

OPTIONS = (
    click.option("--since", default=None, metavar="TIME",
                 help="From this event time (RFC 3339, or before now: -2h, -7d)."),
    click.option("--until", default=None, metavar="TIME",
                 help="Up to this event time (not included)."),
    click.option("--user", "users", multiple=True, help="Only this account (repeatable)."),
    click.option("--ip", "ips", multiple=True,
                 help="Only this address or CIDR network (repeatable)."),
    click.option("--ring", default=None, help="Only the accounts of this ring."),
    click.option("--code", "codes", multiple=True, help="Only where this code fired."),
    click.option("--level", "levels", multiple=True,
                 type=click.Choice(["low", "medium", "high", "critical"]),
                 help="Only at this level (repeatable; alerts: their severity)."),
    click.option("--region", "regions", multiple=True,
                 help="Only events claiming this region (`DE` takes `DE-BY`)."),
)


def scope_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OPTIONS):
        command = option(command)
    return command


def build_scope(engine: Any, *, since: str | None, until: str | None, users: tuple[str, ...],
                ips: tuple[str, ...], ring: str | None, codes: tuple[str, ...],
                levels: tuple[str, ...], regions: tuple[str, ...]) -> Any:
    from ottwatch.forensics.export_scope import ExportScope
    from ottwatch.forensics.filters import EventFilter
    from ottwatch.forensics.window import Window

    members: frozenset[str] = frozenset()
    if ring:
        from storage.report_queries import rings_with

        found = rings_with(engine, ring_id=ring)
        if not found:
            raise Refusal(f"no ring {ring!r} in the database (`ottwatch rings` lists them)")
        members = frozenset(found[0]["members"] or [])
    try:
        return ExportScope(Window.parse(since, until, time.time()), EventFilter.build(
            users=users, ips=ips, codes=codes, levels=levels, regions=regions,
            ring_members=members))
    except ValueError as exc:
        raise Refusal(str(exc)) from None
