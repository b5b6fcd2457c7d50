"""`ottwatch rings`: fraud rings the ring stage found (accounts sharing devices, IPs,
payment methods); `ottwatch rings show RING_ID` draws one as a tree.

Every string from the database came from events, so it is shown as plain text: never
parsed as Rich markup, control characters made visible."""

from __future__ import annotations

from typing import Any

import click

from ottwatch.commands.common import config_option, db_option, load, open_existing
from ottwatch.safe_text import dumps, plain, visible

KIND_ORDER = ("payment", "device", "ip")
KIND_LABELS = {"payment": "payment methods", "device": "devices", "ip": "IPs"}

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON instead of a table.")


def _when(ts: float | None) -> str:
    from ottwatch.events import ts_to_text

    return "-" if ts is None else ts_to_text(ts)[:16].replace("T", " ")


def _by_kind(ring: dict[str, Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for entry in ring["shared"] or []:
        grouped.setdefault(str(entry.get("kind", "?")), []).append(str(entry.get("value", "")))
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return dict(sorted(grouped.items(), key=lambda item: (order.get(item[0], 99), item[0])))


def _risk_style(risk: float) -> str:
    return "bold red" if risk >= 0.8 else "red" if risk >= 0.6 else "yellow" if risk >= 0.4 else ""


def _record(ring: dict[str, Any]) -> dict[str, Any]:
    from ottwatch.events import ts_to_text
    from ottwatch.rings.export import ring_record

    return {**ring_record(ring), "first_seen": ts_to_text(ring["first_seen"]),
            "last_seen": ts_to_text(ring["last_seen"])}


def _echo_json(value: Any) -> None:
    click.echo(dumps(value, indent=True))


def _engine(config_path: str | None, db: str | None) -> Any:
    return open_existing(load(config_path, db).storage.url)


@click.group("rings", invoke_without_command=True)
@config_option
@db_option
@json_option
@click.option("--min-risk", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Only rings at least this risky (0..1).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.pass_context
def command(ctx: click.Context, config_path: str | None, db: str | None, as_json: bool,
            min_risk: float, limit: int) -> None:
    """Fraud rings, riskiest first: size, risk, what the accounts share, first/last seen."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from ottwatch.rings.export import list_rings

    engine = _engine(config_path, db)
    try:
        rings = list_rings(engine, min_risk=min_risk, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        _echo_json([_record(r) for r in rings])
        return
    table = Table(title=f"fraud rings ({len(rings)})", title_justify="left")
    table.add_column("ring", no_wrap=True)
    table.add_column("size", justify="right")
    table.add_column("risk", justify="right")
    table.add_column("shared", overflow="fold", min_width=20)
    table.add_column("first seen", no_wrap=True)
    table.add_column("last seen", no_wrap=True)
    for ring in rings:
        shared = ", ".join(f"{len(values)} {kind}" for kind, values in _by_kind(ring).items())
        table.add_row(plain(ring["ring_id"], "bold"), plain(ring["size"]),
                      plain(f"{ring['risk']:.2f}", _risk_style(ring["risk"])),
                      plain(shared or "-"), plain(_when(ring["first_seen"])),
                      plain(_when(ring["last_seen"])))
    Console(highlight=False).print(table)


@command.command("show")
@click.argument("ring_id")
@config_option
@db_option
@json_option
@click.pass_context
def show(ctx: click.Context, ring_id: str, config_path: str | None, db: str | None,
         as_json: bool) -> None:
    """RING_ID as a tree: the ring, the resources its accounts share, its member users."""
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    from ottwatch.rings.export import get_ring

    group = ctx.parent.params if ctx.parent is not None else {}
    engine = _engine(config_path or group.get("config_path"), db or group.get("db"))
    try:
        ring = get_ring(engine, ring_id)
    finally:
        engine.dispose()
    if ring is None:
        raise click.ClickException(f"no ring {visible(ring_id)!r} (see `ottwatch rings`)")
    if as_json or group.get("as_json"):
        _echo_json(_record(ring))
        return
    label = Text.assemble(("ring ", ""), plain(ring["ring_id"], "bold"),
                          f"  {ring['size']} accounts  ",
                          (f"risk {ring['risk']:.2f}", _risk_style(ring["risk"])),
                          (f"  first seen {_when(ring['first_seen'])}"
                           f"  last seen {_when(ring['last_seen'])}", "dim"))
    tree = Tree(label)
    shared = tree.add(Text("shared resources"))
    for kind, values in _by_kind(ring).items():
        branch = shared.add(Text(f"{KIND_LABELS.get(kind, visible(kind))} ({len(values)})"))
        for value in values:
            branch.add(plain(value))
    members = ring["members"] or []
    users = tree.add(Text(f"member users ({len(members)})"))
    for member in members:
        users.add(plain(member))
    Console(highlight=False).print(tree)
