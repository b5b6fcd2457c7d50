"""How `replay --compare` shows what config B changes against A: per reason code and
per alert kind, the events (alerts) B adds and removes with examples, and the events
whose level moves."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from ottwatch.forensics.compare import Comparison, Delta
from ottwatch.safe_text import dumps, plain


def show_comparison(comparison: Comparison, *, as_json: bool, a: str, b: str) -> None:
    if as_json:
        click.echo(dumps({"a": a, "b": b, **comparison.to_dict()}, indent=True))
        return
    console = Console(width=None if sys.stdout.isatty() else 132)
    console.print(plain(f"compare: A = {a}, B = {b}, {comparison.events:,} events scored by "
                        "both"))
    if comparison.same:
        console.print(plain("no difference: B fires the same codes, levels and alerts as A"))
        return
    console.print(_deltas("reason codes (events)", comparison.codes))
    if comparison.levels:
        table = Table(title="levels that move", title_justify="left")
        for name in ("A", "B", "events", "examples"):
            table.add_column(name)
        for (level_a, level_b), n in sorted(comparison.levels.items(), key=lambda kv: -kv[1]):
            table.add_row(level_a, level_b, f"{n:,}",
                          plain(", ".join(comparison.level_examples[(level_a, level_b)])))
        console.print(table)
    console.print(_deltas("alerts (by kind)", comparison.alerts))


def _deltas(title: str, deltas: dict[str, Delta]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("code", no_wrap=True)
    for name in ("A", "B", "added", "removed"):
        table.add_column(name, justify="right")
    table.add_column("examples (added / removed)")
    for code, delta in sorted(deltas.items(), key=lambda kv: (-(kv[1].added + kv[1].removed),
                                                              kv[0])):
        examples = " / ".join(", ".join(ids) for ids in (delta.added_examples,
                                                         delta.removed_examples) if ids)
        table.add_row(plain(code), f"{delta.a:,}", f"{delta.b:,}",
                      f"+{delta.added:,}" if delta.added else "",
                      f"-{delta.removed:,}" if delta.removed else "", plain(examples))
    return table
