"""The `ottwatch` command."""

from __future__ import annotations

import click

from ottwatch import __version__
from ottwatch.commands import LazyGroup
from ottwatch.commands.common import private_umask
from ottwatch.logs import LOG_FORMATS, LogFormat, choose_log_format, protect_sender_loggers


@click.group(name="ottwatch", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ottwatch")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="auto",
              envvar="OTTWATCH_LOG_FORMAT", show_default=True,
              help="Log lines: text (UTC time), journal (syslog priority prefixes, the "
                   "default when stderr is $JOURNAL_STREAM) or json (one object per line).")
def cli(log_format: LogFormat) -> None:
    """Fraud and privacy-compliance watch for OTT streaming services.

    Start with `ottwatch demo`; run `ottwatch agent` under systemd
    (`ottwatch systemd-unit`); investigate with `ottwatch replay` and `ottwatch export`.
    """
    private_umask()  # before any command: databases with their -wal/-shm, exports, reports
    protect_sender_loggers()
    choose_log_format(log_format)


def main() -> None:
    cli(prog_name="ottwatch")
