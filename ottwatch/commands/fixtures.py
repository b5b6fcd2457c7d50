"""`ottwatch fixtures generate`: the seeded synthetic OTT stream, for trying things out."""

from __future__ import annotations

import click

from fixtures.generator import write_log


@click.group("fixtures")
def command() -> None:
    """Synthetic data for demos, tests and benchmarks."""


@command.command("generate")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("-n", "--events", default=10_000, show_default=True, help="Lines to write.")
@click.option("--users", default=1000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--rate", default=20.0, show_default=True, help="Events per second of event time.")
@click.option("--start", default="2026-11-01T00:00:00Z", show_default=True)
@click.option("--bad-ratio", default=0.0, show_default=True, help="Share of malformed lines.")
def generate(out: str, events: int, users: int, seed: int, rate: float, start: str,
             bad_ratio: float) -> None:
    """Write a realistic synthetic JSON-lines event log to OUT."""
    size = write_log(out, events, users=users, seed=seed, rate_per_s=rate, start=start,
                     bad_ratio=bad_ratio)
    click.echo(f"wrote {events:,} lines ({size / 1e6:.1f} MB) to {out}")
