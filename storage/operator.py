"""Operator actions (from the console or the CLI), each written with its audit row
in one transaction: who (the OS user), when, what."""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from sqlalchemy import Engine

from storage.tables import AuditRow, CommandRow, LabelRow

LABELS = ("violation", "benign")


def actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def audit(conn: Any, action: str, target: str, detail: dict[str, Any] | None = None,
          *, who: str | None = None, at: float | None = None) -> None:
    conn.execute(AuditRow.__table__.insert().values(
        at=time.time() if at is None else at, actor=who or actor(), action=action,
        target=target, detail=detail or {}))


def add_label(engine: Engine, event_id: str, label: str, note: str = "",
              *, who: str | None = None) -> None:
    if label not in LABELS:
        raise ValueError(f"label is one of {', '.join(LABELS)}")
    who = who or actor()
    now = time.time()
    with engine.begin() as conn:
        conn.execute(LabelRow.__table__.insert().values(
            event_id=event_id, label=label, note=note, created_by=who, created_at=now))
        audit(conn, "label", event_id, {"label": label, "note": note}, who=who, at=now)


def queue_command(engine: Engine, kind: str, args: dict[str, Any] | None = None,
                  *, who: str | None = None) -> int:
    """A command for the running agent (it polls the commands table); returns its id."""
    who = who or actor()
    now = time.time()
    with engine.begin() as conn:
        command_id = conn.execute(CommandRow.__table__.insert().values(
            kind=kind, args=args or {}, status="pending", created_by=who, created_at=now,
        )).inserted_primary_key[0]
        audit(conn, kind, str(command_id), args or {}, who=who, at=now)
    return int(command_id)


def command_status(engine: Engine, command_id: int) -> dict[str, Any] | None:
    table = CommandRow.__table__
    with engine.connect() as conn:
        row = conn.execute(table.select().where(table.c.id == command_id)).mappings().first()
    return dict(row) if row else None
