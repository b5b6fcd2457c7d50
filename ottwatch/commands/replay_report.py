"""What a forensic replay says when it is done: how far it warmed and what it kept,
the rule hit counts, and whether the expectations held (exit 1 when not)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ottwatch.commands.replay_options import Forensics, build_forensics
from ottwatch.reports.text import when
from ottwatch.safe_text import dumps, plain

__all__ = ["build_forensics", "describe_scope", "finish"]


def describe_scope(scope: Any, source: Any) -> str:
    counts = scope.counts
    lines = [f"window:   {scope.window.describe()}"]
    if scope.window.bounded and scope.window.since != float("-inf"):
        lines.append(f"warm-up:  from {when(scope.warm_from)} ({counts.warmed:,} events scored, "
                     "not stored)")
    skipped = getattr(source, "skipped_bytes", 0)
    if skipped:
        lines.append(f"skipped:  {skipped:,} bytes before the warm-up, not read")
    if not scope.only.empty or scope.ring_id:
        lines.append(f"filter:   {counts.outside:,} events of the window did not match")
    return "\n".join(lines)


def finish(forensics: Forensics, url: str, *, stats: bool, stats_json: str | None,
           result_path: str | None) -> None:
    if forensics.stats is None:
        return
    from storage import open_database
    from storage.report_queries import alert_codes

    engine = open_database(url)
    try:
        for codes in alert_codes(engine):
            forensics.stats.add_alert(codes)
    finally:
        engine.dispose()
    if stats_json:
        Path(stats_json).write_text(dumps([row.to_dict() for row in forensics.stats.table()],
                                          indent=True) + "\n", encoding="utf-8")
    if stats:
        wide = None if sys.stdout.isatty() else 132  # a file or a pipe: no terminal to fit
        Console(width=wide).print(stats_table(forensics.stats.table()))
    if forensics.expect is not None:
        _check(forensics, result_path)


def stats_table(rows: list[Any]) -> Table:
    table = Table(title="rule hits", title_justify="left")
    table.add_column("code", no_wrap=True)
    for name in ("events", "users"):
        table.add_column(name, justify="right")
    table.add_column("first .. last", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    table.add_column("alerts", justify="right")
    for row in rows:
        table.add_row(plain(row.code), f"{row.events:,}", f"{row.users:,}",
                      f"{_short(row.first)} .. {_short(row.last)}", _weights(row),
                      f"{row.alerts:,}")
    return table


def _short(ts: float | None) -> str:
    return "-" if ts is None else when(ts)[5:16]


def _weights(row: Any) -> str:
    if row.weight_min == row.weight_max:
        return f"{row.weight_min:g}"
    return (f"{row.weight_min:g}-{row.weight_max:g}, median {row.weight_median:g}, "
            f"p90 {row.weight_p90:g}")


def _check(forensics: Forensics, result_path: str | None) -> None:
    from ottwatch.forensics.expect import check, to_json, to_junit

    assert forensics.expect is not None and forensics.stats is not None
    alerts = {row.code: row.alerts for row in forensics.stats.table()}
    results = check(forensics.expect, forensics.stats.counts(), alerts, forensics.seen)
    if result_path:
        path = Path(result_path)
        data = to_junit(results, "ottwatch.expect") if path.suffix == ".xml" else \
            (dumps(to_json(results), indent=True) + "\n").encode()
        path.write_bytes(data)
    console = Console(stderr=True)
    for result in results:
        mark = "ok  " if result.passed else "FAIL"
        console.print(plain(f"{mark} {result.name}: {result.message}",
                            style="" if result.passed else "bold red"))
    failures = sum(not r.passed for r in results)
    console.print(plain(f"expectations: {len(results) - failures} passed, {failures} failed"))
    if failures:
        sys.exit(1)
