"""`ottwatch systemd-unit`: a hardened unit file for the agent."""

from __future__ import annotations

import shutil
import sys

import click

UNIT = """\
[Unit]
Description=ottwatch agent: fraud and privacy-compliance watch for OTT events
Documentation=https://pypi.org/project/ottwatch/
After=network.target
Wants=network.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={exe} agent --config {config}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
WatchdogSec=30
TimeoutStopSec=30
User={user}
Group={user}
StateDirectory=ottwatch
StateDirectoryMode=0700
RuntimeDirectory=ottwatch
RuntimeDirectoryMode=0700
ConfigurationDirectory=ottwatch
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
ReadOnlyPaths={logs}
ReadWritePaths=/var/lib/ottwatch /run/ottwatch

[Install]
WantedBy=multi-user.target
"""


@click.command("systemd-unit")
@click.option("--user", default="ottwatch", show_default=True, help="Account the agent runs as.")
@click.option("--config", "config", default="/etc/ottwatch/ottwatch.toml", show_default=True,
              help="Config path the unit passes to the agent.")
@click.option("--logs", default="/var/log", show_default=True,
              help="Folder of the logs to tail (read-only to the agent).")
def command(user: str, config: str, logs: str) -> None:
    """Print a systemd unit for `ottwatch agent` (Type=notify, watchdog, sandboxed).

    Install it with: ottwatch systemd-unit | sudo tee /etc/systemd/system/ottwatch.service
    """
    exe = shutil.which("ottwatch") or f"{sys.executable} -m ottwatch"
    click.echo(UNIT.format(exe=exe, config=config, user=user, logs=logs), nl=False)
