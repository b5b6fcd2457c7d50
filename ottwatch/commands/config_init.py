"""`ottwatch config init [PATH]`: a commented starting config (sources, storage,
alerts) that passes `ottwatch config check` as written."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ottwatch.commands.common import FilePath
from ottwatch.config import SYSTEM_CONFIG

TEMPLATE = """\
# ottwatch configuration. Check it with: ottwatch config check --config {path}
# Every key is optional; `ottwatch config check` prints all of them with their values.
# Under systemd, restart the agent after an edit: sudo systemctl restart ottwatch

[sources]
# JSON-lines logs to tail (paths or globs). A file that does not exist yet is waited
# for (a warning is logged): the agent starts reading when it appears.
files = ["/var/log/ott/events.jsonl"]
# Also listen for JSON lines on a socket, e.g. tcp = "127.0.0.1:7514" or
# unix = "/run/ottwatch/events.sock" (the unit's RuntimeDirectory).
# tcp = ""
# unix = ""
# poll = true        # poll instead of inotify (network filesystems)

[storage]
# The database. /var/lib/ottwatch is the unit's StateDirectory (the only place the
# sandboxed agent may write). A PostgreSQL URL works too: postgresql+psycopg://...
url = "sqlite:////var/lib/ottwatch/ottwatch.db"
retention_days = 365

[alerts]
# Notification channels: apprise URLs, optionally tagged with a route (`chat`, `email`,
# `sms`, `pager`, `compliance`: `tag1,tag2=URL`; untagged URLs get every route), e.g.
#   urls = ["mailto://user:password@example.com", "chat=slack://T000/B000/XXXX"]
# These are secrets: this file is readable by its owner only (0600).
urls = []
# Alerts at or above this level are notified (low, medium, high, critical).
min_level = "high"

[log]
# debug, info, warning or error. Under systemd the lines go to the journal with
# their priority: journalctl -u ottwatch -p warning
level = "info"
"""


@click.command("init")
@click.argument("path", required=False, type=FilePath(path_type=Path),
                default=SYSTEM_CONFIG)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: Path, force: bool) -> None:
    """Write a commented config (sources, storage, alerts) to PATH
    (default /etc/ottwatch/ottwatch.toml), readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; keep it, or overwrite it with "
                                   f"--force") from None
    except PermissionError:
        raise click.ClickException(f"cannot write {path}: permission denied (for "
                                   f"{SYSTEM_CONFIG}, run it with sudo)") from None
    os.fchmod(fd, 0o600)  # an overwritten file keeps the mode it had otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(TEMPLATE.format(path=path))
    click.echo(f"wrote {path}; edit [sources] files, then: ottwatch config check "
               f"--config {path}", err=True)
