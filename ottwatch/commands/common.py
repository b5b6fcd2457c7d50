"""Options and helpers the commands share."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ottwatch.config import Config

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="TOML config file (default: $OTTWATCH_CONFIG, /etc/ottwatch/ottwatch.toml, "
         "~/.config/ottwatch/ottwatch.toml).",
)
db_option = click.option(
    "--db", "db", default=None,
    help="Database: a SQLite file path or a URL (sqlite:///..., postgresql+psycopg://...). "
         "Overrides [storage] url.",
)


def db_url(value: str) -> str:
    """A path or URL as given on the command line -> an SQLAlchemy URL."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


class ConfigMistakes(click.ClickException):
    """A config that does not validate: its mistakes one per line as the config gives
    them (`file:line: [section] key: message`), exit status 2 like a usage error."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=file is None, file=file)


def load(config_path: str | None, db: str | None = None) -> Config:
    from ottwatch.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise ConfigMistakes(str(exc)) from exc
    if db:
        config.storage.url = db_url(db)
    return config


def private_umask() -> None:
    """Files ottwatch creates (databases and SQLite's -wal/-shm/-journal, exports, logs,
    sockets, state, generated fixtures) are readable by the owner only. The `ottwatch`
    group sets it before any command runs."""
    os.umask(0o077)


def with_config(func: Callable[..., Any]) -> Callable[..., Any]:
    return config_option(func)
