"""One module per command (or command group)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from ottwatch.commands import agent, bench, config, demo, export, fixtures, replay, systemd

    for module in (agent, bench, config, demo, export, fixtures, replay, systemd):
        group.add_command(module.command)
