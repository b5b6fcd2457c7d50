"""Where report files go and how they are written: readable by the owner only, named
for what and when, with nothing from the subject that a file name cannot hold."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_folder(database: str | None) -> Path:
    """`reports/` beside a SQLite database (its path), else in the working folder."""
    return (Path(database).parent if database else Path.cwd()) / "reports"


def write_report(folder: Path, name: str, at: float, extension: str, text: str) -> Path:
    """`folder/NAME-YYYYmmddTHHMMSSZ.EXT`, created 0600 (the folder 0700)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{_UNSAFE.sub('_', name)[:80]}-{stamp}.{extension}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
