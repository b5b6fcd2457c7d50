"""`ottwatch export`: contract-v1 records as JSON lines or CSV.

JSON lines keep the exact data; characters a terminal would act on (ESC, bidi
overrides) are written as JSON `\\uXXXX` escapes. CSV cells a spreadsheet would
evaluate (starting with `=`, `+`, `-`, `@`, tab or CR) are prefixed with `'`.
`--out` files are created 0600 (an existing one is made 0600)."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

from ottwatch.commands.common import FilePath, config_option, db_option, load, open_existing
from ottwatch.commands.scope_options import build_scope, scope_options
from ottwatch.exports import EXPORTS
from ottwatch.safe_text import csv_cell, dumps


@click.command("export")
@config_option
@db_option
@click.option("--what", type=click.Choice(sorted(EXPORTS)), required=True,
              help="Which records to export.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--out", type=FilePath(allow_dash=True), default="-",
              help="Output file (default stdout), created readable by the owner only.")
@scope_options
def command(config_path: str | None, db: str | None, what: str, fmt: str, out: str,
            **filters: Any) -> None:
    """Write one record per line: events, quarantine, assessments (and, as the
    pipeline produces them, alerts and rings); --since/--until and the filters narrow
    them (alerts and rings: those alive in the window)."""
    config = load(config_path, db)
    engine = open_existing(config.storage.url)
    columns, records = EXPORTS[what](engine, build_scope(engine, **filters))
    writer = _jsonl if fmt == "jsonl" else _csv
    try:
        with _output(out) as stream:
            writer(records, columns, stream)
    except BrokenPipeError:  # `| head` is a normal way to look
        sys.stderr.close()


@contextmanager
def _output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield click.open_file("-", "w", encoding="utf-8")
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
    except OSError as exc:
        raise click.FileError(path, exc.strerror) from exc
    with open(fd, "w", encoding="utf-8", newline="") as stream:
        yield stream


def _jsonl(records: Iterator[dict[str, Any]], _columns: list[str], out: TextIO) -> None:
    for record in records:
        out.write(dumps(record))
        out.write("\n")


def _csv(records: Iterator[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    flat: Callable[[Any], Any] = lambda v: dumps(v) if isinstance(v, (list, dict)) else v  # noqa: E731
    for record in records:
        writer.writerow({k: csv_cell(flat(v)) for k, v in record.items()})
