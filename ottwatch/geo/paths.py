"""Where geo state lives: the state folder (next to a SQLite database, else the
system or user state folder) and the feeds folder `ottwatch feeds update` fills."""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

from ottwatch.config import Config

SYSTEM_STATE = Path("/var/lib/ottwatch")
_SQLITE_FILE = re.compile(r"^sqlite(?:\+\w+)?:///([^?]*)")


def state_folder(config: Config) -> Path:
    sqlite = _SQLITE_FILE.match(config.storage.url)
    if sqlite is not None and sqlite.group(1) not in ("", ":memory:"):
        return Path(sqlite.group(1)).parent
    if os.geteuid() == 0:
        return SYSTEM_STATE
    return Path(platformdirs.user_state_dir("ottwatch"))


def feeds_folder(config: Config) -> Path:
    return state_folder(config) / "feeds"


def config_folder(config: Config) -> Path | None:
    return config.source_path.parent if config.source_path is not None else None
