"""The ottwatch console: a Textual app over the agent's database."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, TabbedContent, TabPane

from ottwatch.memory import tune_for_throughput
from storage import console
from tui.commands import OttwatchCommands
from tui.statusbar import StatusBar
from tui.views.alerts import AlertScreen, AlertsView
from tui.views.audit import AuditView
from tui.views.drilldown import DrillDown
from tui.views.live import LiveView
from tui.views.models import ModelsView
from tui.views.regulations import RegulationsView
from tui.views.review import ReviewView
from tui.views.rings import RingsView

REFRESH_S = 1.0

# tab id, label, view class; the number keys follow this order
VIEWS: tuple[tuple[str, str, type[Any]], ...] = (
    ("live", "Live", LiveView),
    ("alerts", "Alerts", AlertsView),
    ("rings", "Rings", RingsView),
    ("regulations", "Regulations", RegulationsView),
    ("models", "Models", ModelsView),
    ("review", "Review", ReviewView),
    ("audit", "Audit", AuditView),
)


class OttwatchApp(App[None]):
    TITLE = "ottwatch"
    CSS_PATH = "ottwatch.tcss"
    COMMANDS = App.COMMANDS | {OttwatchCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("escape", "cancel_input", "Cancel", show=False),
        *[Binding(str(n), f"show_tab('{tab}')", label, show=False)
          for n, (tab, label, _view) in enumerate(VIEWS, start=1)],
    ]

    def __init__(self, engine: Engine, *, database: str, alert_id: str | None = None,
                 user_id: str | None = None, refresh_s: float = REFRESH_S) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # No sliding tab underline: a switch is drawn once, not for a third of a
            # second of frames (set TEXTUAL_ANIMATIONS to have it back).
            self.animation_level = "none"
        self.engine = engine
        self.database = database
        self.start_alert = alert_id
        self.start_user = user_id
        self.refresh_s = refresh_s

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="live"):
            for tab, label, view in VIEWS:
                with TabPane(label, id=tab):
                    yield view(self.engine, id=f"{tab}-view")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        # What is loaded by now (modules, widgets, stylesheets) lives as long as the app:
        # frozen, full collections skip it and do not stall a key press for a tenth of a
        # second; young ones run less often, as in the agent.
        tune_for_throughput()
        self.set_interval(self.refresh_s, self.refresh_views)
        self.refresh_views()
        if self.start_user:
            self.push_screen(DrillDown(self.engine, event_id=None, user_id=self.start_user))
        if self.start_alert:
            self.push_screen(AlertScreen(self.engine, self.start_alert))

    def refresh_views(self) -> None:
        """Reload the visible view (and the status bar), unless its last load is still
        running: a slow read is never started again on top of itself."""
        active = self.query_one(TabbedContent).active
        if active and not self._loading(active):
            self.query_one(f"#{active}-view").refresh_data()
        if not self._loading("status"):
            self._status()

    def _loading(self, group: str) -> bool:
        """Each view loads in a worker group named after its tab."""
        return any(w.group == group and not w.is_finished for w in self.workers)

    @work(thread=True, exclusive=True, group="status")
    def _status(self) -> None:
        beat = console.heartbeat(self.engine)
        newest = console.newest_event_ts(self.engine)
        self.call_from_thread(self.query_one(StatusBar).show, beat, self.database, newest)

    def action_show_tab(self, tab: str) -> None:
        """The view starts loading with the key; TabActivated (which a mouse click
        sends too) then finds the load running and starts no second one."""
        self.query_one(TabbedContent).active = tab
        self._focus_view(tab)
        self.refresh_views()

    def _focus_view(self, tab: str) -> None:
        targets = self.query_one(f"#{tab}-view").query("DataTable, Tree")
        if targets:
            targets.first().focus()

    def action_help(self) -> None:
        from tui.help import HelpScreen  # Markdown and its parser: not needed to open

        self.push_screen(HelpScreen())

    def action_cancel_input(self) -> None:
        if isinstance(self.focused, Input):
            self.focused.display = False
            self.screen.focus_next(DataTable)

    @on(LiveView.Open)
    def _open(self, message: LiveView.Open) -> None:
        self.push_screen(DrillDown(self.engine, event_id=message.event_id,
                                   user_id=message.user_id))

    @on(RingsView.OpenUser)
    def _open_user(self, message: RingsView.OpenUser) -> None:
        self.push_screen(DrillDown(self.engine, event_id=None, user_id=message.user_id))

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, message: TabbedContent.TabActivated) -> None:
        if message.pane.id:
            self._focus_view(message.pane.id)
        self.refresh_views()
