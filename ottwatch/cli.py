"""The `ottwatch` command."""

from __future__ import annotations

import click

from ottwatch import __version__
from ottwatch.commands import LazyGroup


@click.group(name="ottwatch", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ottwatch")
def cli() -> None:
    """Fraud and privacy-compliance watch for OTT streaming services.

    Start with `ottwatch demo`; run `ottwatch agent` under systemd
    (`ottwatch systemd-unit`); investigate with `ottwatch replay` and `ottwatch export`.
    """


def main() -> None:
    cli(prog_name="ottwatch")
