"""Commands from the console and the CLI reach the running agent through the
`commands` table: the agent claims pending rows, runs them off the ingest path
and writes the result back, which the console shows."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select, update

from storage.tables import CommandRow

log = logging.getLogger("ottwatch.control")
COMMANDS = CommandRow.__table__

ControlHandler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlPoller:
    def __init__(self, engine: Engine, handlers: dict[str, ControlHandler]) -> None:
        self.engine = engine
        self.handlers = handlers

    def claim(self) -> list[dict[str, Any]]:
        """Pending commands, marked running so that no second agent takes them."""
        claimed = []
        with self.engine.begin() as conn:
            rows = conn.execute(select(COMMANDS).where(COMMANDS.c.status == "pending")
                                .order_by(COMMANDS.c.id).limit(10)).mappings().all()
            for row in rows:
                taken = conn.execute(update(COMMANDS).where(
                    COMMANDS.c.id == row["id"], COMMANDS.c.status == "pending",
                ).values(status="running", started_at=time.time()))
                if taken.rowcount:
                    claimed.append(dict(row))
        return claimed

    def run_once(self) -> int:
        claimed = self.claim()
        for row in claimed:
            self._run(row)
        return len(claimed)

    def _run(self, row: dict[str, Any]) -> None:
        handler = self.handlers.get(row["kind"])
        if handler is None:
            status, result = "failed", {"error": f"unknown command {row['kind']!r}; "
                                                 f"this agent knows {sorted(self.handlers)}"}
        else:
            try:
                status, result = "done", handler(row["args"] or {})
            except Exception as exc:  # the result tells the operator what went wrong
                log.warning("command %s (%s) failed: %s", row["id"], row["kind"], exc)
                status = "failed"
                result = {"error": f"{type(exc).__name__}: {exc}",
                          "trace": traceback.format_exc(limit=3)}
        with self.engine.begin() as conn:
            conn.execute(update(COMMANDS).where(COMMANDS.c.id == row["id"]).values(
                status=status, finished_at=time.time(), result=result))
