"""`ottwatch agent`: the long-running, headless agent."""

from __future__ import annotations

import asyncio

import click

from ottwatch.commands.common import (
    FilePath,
    config_option,
    database_errors,
    db_option,
    db_url,
    load,
    private_umask,
)
from ottwatch.config import Config, ConfigError
from ottwatch.logs import setup_logging
from ottwatch.memory import tune_for_throughput


@click.command("agent")
@config_option
@db_option
@click.argument("files", nargs=-1, type=FilePath(
    allow_dash=True, hint="name the log files, for example '{folder}/*.jsonl'"))
@click.option("--tcp", default=None, metavar="HOST:PORT",
              help="Listen for JSON lines on TCP (e.g. 127.0.0.1:7514).")
@click.option("--unix", type=FilePath(), default=None, help="Listen on a Unix socket.")
@click.option("--poll", is_flag=True, default=None,
              help="Poll files instead of using inotify (network filesystems).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default=None, help="Override [log] level (default warning: quiet).")
def command(config_path: str | None, db: str | None, files: tuple[str, ...], tcp: str | None,
            unix: str | None, poll: bool | None, log_level: str | None) -> None:
    """Tail FILES (paths or globs; `-` is stdin) and sockets into the database,
    scoring every event. Sources on the command line replace [sources] in the config.

    Stops cleanly (drain, checkpoint, exit 0) on SIGTERM or SIGINT; SIGHUP reloads
    the config. With $NOTIFY_SOCKET set it speaks systemd's notify protocol.
    """
    from agent.runner import AgentService

    private_umask()
    tune_for_throughput()

    def overrides(config: Config) -> None:
        """The command line wins over the file, at start and on every SIGHUP."""
        if db:
            config.storage.url = db_url(db)
        if files or tcp is not None or unix is not None:
            config.sources.files = list(files)
            config.sources.tcp = tcp or ""
            config.sources.unix = unix or ""
            config.sources.stdin = "-" in files
        if poll is not None:
            config.sources.poll = poll
        if log_level:
            config.log.level = log_level  # type: ignore[assignment]

    config = load(config_path)
    overrides(config)
    setup_logging(config.log.level)
    service = AgentService(config, config_path, overrides)
    try:
        with database_errors():
            asyncio.run(service.run())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
