"""The summary table printed at the end of replay, demo and bench."""

from __future__ import annotations

from rich.table import Table

from agent.loop import AgentStats


def summary_table(stats: AgentStats, *, title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    elapsed = stats.elapsed
    table.add_row("lines read", f"{stats.lines:,}")
    table.add_row("events stored", f"{stats.stored:,}")
    table.add_row("duplicates skipped", f"{stats.duplicates:,}")
    table.add_row("quarantined", f"{stats.quarantined:,}")
    table.add_row("assessed", f"{stats.assessed:,}")
    table.add_row("elapsed", f"{elapsed:.2f} s")
    table.add_row("throughput", f"{stats.stored / elapsed:,.0f} events/s" if elapsed else "-")
    p50, p99 = stats.latency_percentile(50), stats.latency_percentile(99)
    if p50 is not None and p99 is not None:
        table.add_row("latency p50 / p99", f"{p50 * 1000:.1f} / {p99 * 1000:.1f} ms")
    for code, count in sorted(stats.reasons.items(), key=lambda kv: -kv[1])[:8]:
        table.add_row(f"reason {code}", f"{count:,}")
    return table
