"""`ottwatch export`: contract-v1 records as JSON lines or CSV."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click
import orjson

from ottwatch.commands.common import config_option, load
from ottwatch.exports import EXPORTS


@click.command("export")
@config_option
@click.option("--db", default=None, help="Database path or URL (default: [storage] url).")
@click.option("--what", type=click.Choice(sorted(EXPORTS)), required=True,
              help="Which records to export.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--out", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="Output file (default stdout).")
def command(config_path: str | None, db: str | None, what: str, fmt: str, out: TextIO) -> None:
    """Write one record per line: events, quarantine, assessments (and, as the
    pipeline produces them, alerts and rings)."""
    from storage import open_database

    config = load(config_path, db)
    engine = open_database(config.storage.url)
    columns, records = EXPORTS[what](engine)
    writer = _jsonl if fmt == "jsonl" else _csv
    try:
        writer(records, columns, out)
    except BrokenPipeError:  # `| head` is a normal way to look
        sys.stderr.close()


def _jsonl(records: Iterator[dict[str, Any]], _columns: list[str], out: TextIO) -> None:
    for record in records:
        out.write(orjson.dumps(record).decode())
        out.write("\n")


def _csv(records: Iterator[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    flat: Callable[[Any], Any] = lambda v: orjson.dumps(v).decode() if isinstance(v, (list, dict)) else v  # noqa: E731
    for record in records:
        writer.writerow({k: flat(v) for k, v in record.items()})
