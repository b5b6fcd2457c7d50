"""The summary table printed at the end of replay, demo and bench."""

from __future__ import annotations

from rich.table import Table

from agent.stats import AgentStats

TOP_REASONS = 8


def summary_table(stats: AgentStats, *, title: str, elapsed: float | None = None) -> Table:
    """`elapsed`: the time the agent worked on the input, when that is not the whole run
    (the demo's console stays open after the log is read)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    elapsed = stats.elapsed if elapsed is None else elapsed
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
    reasons = sorted(stats.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    for code, count in reasons[:TOP_REASONS]:
        table.add_row(f"reason {code}", f"{count:,}")
    if len(reasons) > TOP_REASONS:
        rest = reasons[TOP_REASONS:]
        table.add_row(f"and {len(rest)} more reason{'' if len(rest) == 1 else 's'}",
                      f"{sum(n for _, n in rest):,}")
    return table
