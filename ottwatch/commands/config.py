"""`ottwatch config check`."""

from __future__ import annotations

import json

import click

from ottwatch.commands.common import config_option, load
from ottwatch.config import effective_config, find_config_path
from ottwatch.toml_out import dumps


@click.group("config")
def command() -> None:
    """Inspect the configuration."""


@command.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
def check(config_path: str | None, as_json: bool) -> None:
    """Validate the config and print every section's effective settings (TOML that
    reads back as the same config), secrets masked. Mistakes: one line each, exit 2."""
    data = effective_config(load(config_path))
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    where = find_config_path(config_path)
    click.echo(f"# config: {where or 'none found, defaults in effect'}\n")
    click.echo(dumps(data), nl=False)
    click.echo("# ok: the configuration is valid", err=True)


from ottwatch.commands.config_init import init  # noqa: E402 - apart from `check`, which others edit

command.add_command(init)
