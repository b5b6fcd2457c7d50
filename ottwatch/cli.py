"""The `ottwatch` command."""

from __future__ import annotations

import click

from ottwatch import __version__
from ottwatch.commands import LazyGroup
from ottwatch.commands.common import private_umask
from ottwatch.logs import protect_sender_loggers


@click.group(name="ottwatch", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ottwatch")
def cli() -> None:
    """Fraud and privacy-compliance watch for OTT streaming services.

    Start with `ottwatch demo`; run `ottwatch agent` under systemd
    (`ottwatch systemd-unit`); investigate with `ottwatch replay` and `ottwatch export`.
    """
    private_umask()  # before any command: databases with their -wal/-shm, exports, reports
    protect_sender_loggers()


def main() -> None:
    cli(prog_name="ottwatch")
