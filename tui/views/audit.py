"""Audit: every operator action, from the console or the CLI."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from storage import console
from tui.safe import clock, plain, visible
from tui.views.tables import MeasuredTable, deliver, refill


class AuditView(Vertical):
    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = MeasuredTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("when", "who", "action", "target", "detail")
        yield table

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="audit")
    def _load(self) -> None:
        rows = console.audit(self.engine)
        deliver(self.app, self._show, rows)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        refill(self.query_one(MeasuredTable),
               [(clock(r["at"]), plain(r["actor"]), plain(r["action"]), plain(r["target"]),
                 Text(visible(r["detail"] or ""), no_wrap=True, overflow="ellipsis"))
                for r in rows],
               [str(r["id"]) for r in rows])
