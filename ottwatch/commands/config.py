"""`ottwatch config check`."""

from __future__ import annotations

import json

import click

from ottwatch.commands.common import config_option, load
from ottwatch.config import Config, effective_config, find_config_path


@click.group("config")
def command() -> None:
    """Inspect the configuration."""


@command.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
def check(config_path: str | None, as_json: bool) -> None:
    """Validate the config and print the effective settings, secrets masked."""
    config = load(config_path)
    _check_scoring(config)
    data = effective_config(config)
    where = find_config_path(config_path)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"# config: {where or 'none found, defaults in effect'}")
    for section, values in data.items():
        click.echo(f"\n[{section}]")
        for key, value in values.items():
            click.echo(f"{key} = {json.dumps(value)}")
    click.echo("\n# ok: the configuration is valid", err=True)


def _check_scoring(config: Config) -> None:
    """The `[scoring]` table and its sub-tables are validated by the stages that own
    them: assembling the pipeline is how a typo there is caught before the agent starts."""
    from pydantic import ValidationError

    from ottwatch.stages import build_pipeline

    try:
        build_pipeline(config)
    except (ValidationError, ValueError) as exc:
        raise click.ClickException(f"[scoring]: {exc}") from exc

from ottwatch.commands.config_init import init  # noqa: E402 - apart from `check`, which others edit

command.add_command(init)
