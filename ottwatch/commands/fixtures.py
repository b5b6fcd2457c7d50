"""`ottwatch fixtures generate`: the seeded synthetic OTT stream, for trying things out."""

from __future__ import annotations

from pathlib import Path

import click

from ottwatch.commands.common import FilePath


@click.group("fixtures")
def command() -> None:
    """Synthetic data for demos, tests and benchmarks."""


@command.command("generate")
@click.argument("out", type=FilePath(writable=True))
@click.option("-n", "--events", type=int, default=None,
              help="About this many lines (within 10%); default: the natural activity of "
                   "USERS over DAYS.")
@click.option("--users", default=1500, show_default=True,
              help="Accounts at the start (signups come on top).")
@click.option("--days", default=60.0, show_default=True, help="Days of event time.")
@click.option("--seed", default=7, show_default=True)
@click.option("--start", default="2026-09-01T00:00:00Z", show_default=True)
@click.option("--bad-ratio", default=0.0, show_default=True, help="Share of malformed lines.")
@click.option("--truth", type=FilePath(writable=True), default=None,
              help="Also write the ground truth (incidents, farms, households) here as JSON.")
@click.option("--uniform", is_flag=True,
              help="The uniform stream instead (one private IP per user, 200 events a second "
                   "of event time, no attackers; --days, --start and --truth do not apply).")
def generate(out: str, events: int | None, users: int, days: float, seed: int, start: str,
             bad_ratio: float, truth: str | None, uniform: bool) -> None:
    """Write a realistic synthetic JSON-lines event log to OUT: ISP address pools,
    carrier NAT, households, travellers, signups, account farms, credential stuffing and
    scrapers among real users, over DAYS of event time (docs/realistic-stream.md)."""
    from fixtures.generator import write_log
    from fixtures.realistic import StreamSpec, write_realistic_log

    if uniform:
        if truth:
            raise click.UsageError("--truth needs the realistic stream (drop --uniform)")
        size = write_log(out, events or 10_000, users=users, seed=seed, start=start,
                         rate_per_s=200.0, bad_ratio=bad_ratio)
        click.echo(f"wrote {events or 10_000:,} lines ({size / 1e6:.1f} MB) to {out}")
        return
    spec = StreamSpec(users=users, days=days, events=events, seed=seed, start=start,
                      bad_ratio=bad_ratio)
    written = write_realistic_log(out, spec, truth_path=truth)
    size = Path(out).stat().st_size
    click.echo(f"wrote {written.events + written.bad_lines:,} lines ({size / 1e6:.1f} MB, "
               f"{days:g} days, {users:,} users) to {out}")
    if truth:
        click.echo(f"ground truth: {truth}")
