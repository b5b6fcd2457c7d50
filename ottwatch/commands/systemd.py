"""`ottwatch systemd-unit`: a hardened unit file for the agent that starts on a fresh
machine: no account to create (DynamicUser), its database in StateDirectory, its
config handed over as a credential (the file stays 0600 root), and a system-call
filter that denies with EPERM instead of killing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

import ottwatch

# PrivateTmp= and ProtectHome= hide these from the service: an ExecStart (or the
# Python or package behind it) there is "No such file or directory" at start.
HIDDEN_FROM_SERVICE = (Path("/tmp"), Path("/var/tmp"), Path("/home"), Path("/root"),
                       Path("/run/user"))
CONFIG_CREDENTIAL = "ottwatch.toml"

DYNAMIC_USER = """\
# A transient account made at start: nothing to create. Its files are under
# /var/lib/private/ottwatch, reached through /var/lib/ottwatch.
DynamicUser=yes"""

NAMED_USER = """\
# Create the account first: sudo useradd --system --no-create-home --shell /usr/sbin/nologin {user}
User={user}
Group={user}"""

UNIT = """\
[Unit]
Description=ottwatch agent: fraud and privacy-compliance watch for OTT events
Documentation=https://pypi.org/project/ottwatch/
After=network.target
Wants=network.target

[Service]
Type=notify
NotifyAccess=main
# The config may hold alert secrets and stays 0600 root: systemd hands the agent a
# copy in its credentials folder (%d) at start. After an edit: systemctl restart
# ottwatch (a reload would read the same copy).
LoadCredential={credential}:{config}
ExecStart={exe} agent --config %d/{credential}
Restart=on-failure
RestartSec=2
WatchdogSec=30
TimeoutStopSec=30
{account}
# /var/lib/ottwatch (the database), /var/log/ottwatch, /run/ottwatch, /etc/ottwatch
StateDirectory=ottwatch
StateDirectoryMode=0700
LogsDirectory=ottwatch
LogsDirectoryMode=0700
RuntimeDirectory=ottwatch
RuntimeDirectoryMode=0700
ConfigurationDirectory=ottwatch
ConfigurationDirectoryMode=0700
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
# @system-service keeps @resources: the retraining child lowers its priority
# (setpriority). A call outside the filter fails with EPERM; it does not kill.
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
ReadOnlyPaths=-{logs}

[Install]
WantedBy=multi-user.target
"""


def hidden_paths(paths: list[Path]) -> list[Path]:
    """Those of `paths` the service's sandbox hides."""
    return [path for path in paths
            if any(path.is_relative_to(hidden) for hidden in HIDDEN_FROM_SERVICE)]


def install_paths(exe: str) -> list[Path]:
    """What ExecStart needs to exist for the service: the command, the interpreter
    (a venv's python may link elsewhere) and the installed package."""
    command = Path(exe.split()[0])
    return [command, command.resolve(), Path(sys.executable).resolve(),
            Path(ottwatch.__file__).resolve().parent]


def render_unit(exe: str, config: str, logs: str, user: str | None) -> str:
    account = NAMED_USER.format(user=user) if user else DYNAMIC_USER
    return UNIT.format(exe=exe, config=config, logs=logs, account=account,
                       credential=CONFIG_CREDENTIAL)


@click.command("systemd-unit")
@click.option("--user", default=None,
              help="Run as this existing account instead of a DynamicUser.")
@click.option("--config", "config", default="/etc/ottwatch/ottwatch.toml", show_default=True,
              help="Config file the unit hands to the agent (`ottwatch config init` "
                   "writes one).")
@click.option("--logs", default="/var/log", show_default=True,
              help="Folder of the logs to tail (read-only to the agent).")
def command(user: str | None, config: str, logs: str) -> None:
    """Print a systemd unit for `ottwatch agent` (Type=notify, watchdog, sandboxed).

    Install it with: ottwatch systemd-unit | sudo tee /etc/systemd/system/ottwatch.service
    """
    exe = shutil.which("ottwatch") or f"{sys.executable} -m ottwatch"
    for path in dict.fromkeys(hidden_paths(install_paths(exe))):
        click.echo(f"warning: {path} is hidden from the service (PrivateTmp=, "
                   f"ProtectHome=): install ottwatch elsewhere, e.g. python3.11 -m venv "
                   f"/opt/ottwatch && /opt/ottwatch/bin/pip install ottwatch", err=True)
    click.echo(render_unit(exe, config, logs, user), nl=False)
