"""Options and helpers the commands share."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ottwatch.config import Config


class Refusal(click.ClickException):
    """A mistake in what was asked (a path, a URL, a missing driver): one line on
    stderr, `ottwatch: ...` with the fix, exit status 2 as for any usage error."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"ottwatch: {self.format_message()}", err=True, file=file)


class FilePath(click.Path):
    """A file's path (the shell completes file names); a folder given instead is refused
    in one line that says what to give."""

    def __init__(self, *, hint: str = "", **kwargs: Any) -> None:
        super().__init__(dir_okay=False, **kwargs)
        self.hint = hint

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if value != "-" and Path(value).expanduser().is_dir():
            name = param.get_error_hint(ctx) if param is not None and ctx is not None else "it"
            hint = self.hint.format(folder=Path(value))
            raise Refusal(f"{value} is a folder; {name} takes a file" + (f", {hint}" if hint
                                                                          else ""))
        return super().convert(value, param, ctx)


class DatabaseType(FilePath):
    """A SQLite file path or a URL, passed through."""

    name = "database"

    def __init__(self) -> None:
        super().__init__(hint="for example {folder}/ottwatch.db")

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if "://" in str(value):
            return value
        return super().convert(value, param, ctx)


DATABASE = DatabaseType()

config_option = click.option(
    "--config", "config_path", type=FilePath(hint="for example {folder}/ottwatch.toml"),
    default=None,
    help="TOML config file (default: $OTTWATCH_CONFIG, /etc/ottwatch/ottwatch.toml, "
         "~/.config/ottwatch/ottwatch.toml).",
)
db_option = click.option(
    "--db", "db", type=DATABASE, default=None, metavar="PATH|URL",
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


@contextmanager
def database_errors() -> Iterator[None]:
    """A database that cannot be used as given (storage.engine.DatabaseUnusable) ends
    the command with its one line instead of a traceback."""
    from storage.engine import DatabaseUnusable

    try:
        yield
    except DatabaseUnusable as exc:
        raise Refusal(str(exc)) from None


def creates_database(func: Callable[..., Any]) -> Callable[..., Any]:
    """For commands that create their database (replay, bench, demo, eval)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with database_errors():
            return func(*args, **kwargs)

    return wrapper


def open_existing(url: str) -> Engine:
    """The database of a command that reads one. A SQLite file that does not exist is
    refused, not created: a mistyped --db would otherwise show an empty database."""
    from storage import open_database
    from storage.engine import sqlite_path

    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise Refusal(f"no database at {path} (the agent creates it; check --db or "
                      "[storage] url)")
    with database_errors():
        return open_database(url)


def make_folder(path: Path) -> Path:
    """`path` as a folder (created if needed), or a one-line refusal saying why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Refusal(f"cannot use {path} as a folder: {exc.strerror}") from None
    return path
