"""The ottwatch console: a Textual app over the agent's database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, TabbedContent, TabPane

from storage import console
from tui.help import HelpScreen
from tui.statusbar import StatusBar
from tui.views.drilldown import DrillDown
from tui.views.live import LiveView

REFRESH_S = 1.0

TABS = (("live", "Live"),)


class OttwatchApp(App[None]):
    TITLE = "ottwatch"
    CSS_PATH = "ottwatch.tcss"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        *[Binding(str(n), f"show_tab('{tab}')", label, show=False)
          for n, (tab, label) in enumerate(TABS, start=1)],
    ]

    def __init__(self, engine: Engine, *, database: str, alert_id: str | None = None,
                 user_id: str | None = None, refresh_s: float = REFRESH_S) -> None:
        super().__init__()
        self.engine = engine
        self.database = database
        self.start_alert = alert_id
        self.start_user = user_id
        self.refresh_s = refresh_s

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="live"):
            with TabPane("Live", id="live"):
                yield LiveView(self.engine, id="live-view")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(self.refresh_s, self.refresh_views)
        self.refresh_views()
        if self.start_user:
            self.push_screen(DrillDown(self.engine, event_id=None, user_id=self.start_user))

    def refresh_views(self) -> None:
        active = self.query_one(TabbedContent).active
        if active == "live":
            self.query_one(LiveView).refresh_data()
        self._status()

    @work(thread=True, exclusive=True, group="status")
    def _status(self) -> None:
        beat = console.heartbeat(self.engine)
        newest = console.newest_event_ts(self.engine)
        self.call_from_thread(self.query_one(StatusBar).show, beat, self.database, newest)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.refresh_views()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    @on(LiveView.Open)
    def _open(self, message: LiveView.Open) -> None:
        self.push_screen(DrillDown(self.engine, event_id=message.event_id,
                                   user_id=message.user_id))

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, _message: Any) -> None:
        self.refresh_views()
