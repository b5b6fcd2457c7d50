"""One module per command (or command group). A module exports `command`, or
`commands` (a list) when it holds several top-level commands. Modules import
their heavy dependencies lazily, inside the command, so `ottwatch --help` is quick."""

from __future__ import annotations

import importlib

import click

COMMAND_MODULES = (
    "agent", "replay", "export", "bench", "demo", "tui", "explain", "users", "roi", "geo",
    "regulations", "rings", "alerts", "learning",
    "config",
    "systemd", "fixtures",
)


def register(group: click.Group) -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"ottwatch.commands.{name}")
        for command in getattr(module, "commands", None) or [module.command]:
            group.add_command(command)
