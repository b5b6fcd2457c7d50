"""Alerts: open, acked and silenced groups; acknowledge, silence, unsilence, open."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ottwatch.alerts import store
from ottwatch.alerts.silences import Silence
from ottwatch.durations import EXAMPLES, parse_duration
from storage.console import LEVEL_ORDER
from tui.report_key import write_incident_report
from tui.safe import clock, level_text, plain, visible
from tui.views.live import LiveView
from tui.views.tables import MeasuredTable, deliver, refill, selected_key, show_text


def parse_silence(text: str) -> tuple[float, str]:
    """`2h maintenance of the CDN` -> (7200, "maintenance of the CDN")."""
    duration, _, reason = text.strip().partition(" ")
    try:
        seconds = parse_duration(duration)
    except ValueError:
        seconds = 0.0
    if seconds <= 0 or not reason.strip():
        raise ValueError(f"type a duration ({EXAMPLES}) and a reason, e.g. "
                         "`2h planned maintenance`")
    return seconds, reason.strip()


def subject_matchers(alert: dict[str, Any]) -> dict[str, str]:
    """What a silence from this alert matches: its first code and its subject."""
    matchers = {"code": (alert["codes"] or ["*"])[0]}
    for label in ("ring_id", "request_id", "user_id"):
        if alert.get(label):
            matchers[label] = alert[label]
            break
    return matchers


ALERT_FILTER_HELP = ("filter: level:high code:CODE user:ID ring:ID since:-1d until:TIME  "
                     "(empty clears)")
ALERT_WORDS = ("level", "code", "user", "ring", "since", "until")
FILTERED_LIMIT = 5_000  # newest alerts a filter looks through


def parse_alert_filter(text: str, now: float) -> dict[str, Any]:
    """`level:high since:-1d` -> the alert filter; unknown words are an error."""
    from ottwatch.forensics.window import parse_instant

    where: dict[str, Any] = {}
    for word in text.split():
        key, sep, value = word.partition(":")
        if not sep or key not in ALERT_WORDS or not value:
            raise ValueError(f"not a filter: {word!r} ({ALERT_FILTER_HELP})")
        if key == "level" and value not in LEVEL_ORDER:
            raise ValueError(f"level is one of {', '.join(LEVEL_ORDER)}")
        where[key] = parse_instant(value, now) if key in ("since", "until") else value
    return where


def alert_matches(alert: dict[str, Any], where: dict[str, Any]) -> bool:
    """Alive in the window (opened before its end, updated after its start), at least
    the level, and of the code, user and ring named."""
    if "level" in where and LEVEL_ORDER.index(alert["severity"]) < \
            LEVEL_ORDER.index(where["level"]):
        return False
    if "code" in where and where["code"] not in (alert["codes"] or []):
        return False
    if "user" in where and alert["user_id"] != where["user"]:
        return False
    if "ring" in where and alert["ring_id"] != where["ring"]:
        return False
    if "since" in where and alert["updated_at"] < where["since"]:
        return False
    return not ("until" in where and alert["created_at"] >= where["until"])


class AlertsView(Vertical):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("a", "ack", "Acknowledge"),
        Binding("s", "silence", "Silence"),
        Binding("u", "unsilence", "Unsilence"),
        Binding("i", "report", "Incident report"),
    ]

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.rows: dict[str, dict[str, Any]] = {}
        self.where: dict[str, Any] = {}
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="alerts-summary")
        table: DataTable[Any] = MeasuredTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("time", "severity", "status", "count", "code", "subject", "title")
        yield table
        yield Input(placeholder="silence for: DURATION REASON (e.g. 2h planned maintenance)",
                    id="silence-input")
        yield Input(placeholder=ALERT_FILTER_HELP, id="alerts-filter")

    def on_mount(self) -> None:
        self.query_one("#silence-input", Input).display = False
        self.query_one("#alerts-filter", Input).display = False

    def action_filter(self) -> None:
        box = self.query_one("#alerts-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#alerts-filter")
    def _apply_filter(self, message: Input.Submitted) -> None:
        try:
            self.where = parse_alert_filter(message.value, time.time())
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.filter_text = message.value.strip()
        message.input.display = False
        self.query_one(DataTable).focus()
        self._load()

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="alerts")
    def _load(self) -> None:
        where = self.where
        if where:
            found = store.list_alerts(self.engine, limit=FILTERED_LIMIT)
            rows = [r for r in found if alert_matches(r, where)][:300]
        else:
            rows = store.list_alerts(self.engine, limit=300)
        silences = store.load_silences(self.engine)
        deliver(self.app, self._show, rows, silences)

    def _show(self, rows: list[dict[str, Any]], silences: list[Silence]) -> None:
        self.rows = {r["alert_id"]: r for r in rows}
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        summary = "  ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        show_text(self.query_one("#alerts-summary", Static),
                  f"{summary or 'no alerts'}   {len(silences)} silence(s) in force   "
                  + (f"filter {visible(self.filter_text)}   " if self.where else "")
                  + "(/ filter, a ack, s silence, u unsilence, i report, enter open)")
        refill(self.query_one(MeasuredTable), [
            (clock(r["created_at"]), level_text(r["severity"]), r["status"], str(r["count"]),
             plain(", ".join(r["codes"] or [])),
             plain(r["ring_id"] or r["request_id"] or r["user_id"] or "-"), plain(r["title"]))
            for r in rows], [r["alert_id"] for r in rows])

    def _selected(self) -> dict[str, Any] | None:
        key = selected_key(self.query_one(DataTable))
        return self.rows.get(key) if key else None

    def action_report(self) -> None:
        """The selected alert's ring, else its user, else the alert itself."""
        alert = self._selected()
        if alert is not None:
            kind, value = ("ring", alert["ring_id"]) if alert["ring_id"] else \
                ("user", alert["user_id"]) if alert["user_id"] else ("alert", alert["alert_id"])
            write_incident_report(self.app, self.engine, kind, value)

    def action_ack(self) -> None:
        alert = self._selected()
        if alert is None:
            return
        if store.ack_alert(self.engine, alert["alert_id"], actor=store.os_user()):
            self.notify(f"acknowledged {visible(alert['alert_id'])}", markup=False)
        self._load()

    def action_silence(self) -> None:
        if self._selected() is None:
            return
        box = self.query_one("#silence-input", Input)
        box.value = ""
        box.display = True
        box.focus()

    @on(Input.Submitted, "#silence-input")
    def _silence(self, message: Input.Submitted) -> None:
        alert = self._selected()
        try:
            duration, reason = parse_silence(message.value)
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        message.input.display = False
        self.query_one(DataTable).focus()
        if alert is None:
            return
        matchers = subject_matchers(alert)
        store.create_silence(self.engine, matchers, duration_s=duration, reason=reason,
                             actor=store.os_user())
        described = " ".join(f"{k}={v}" for k, v in matchers.items())
        self.notify(f"silenced {visible(described)} for {message.value.split()[0]}",
                    markup=False)
        self._load()

    def action_unsilence(self) -> None:
        alert = self._selected()
        if alert is None:
            return
        labels = {**alert, "code": (alert["codes"] or [""])[0]}
        ended = [s for s in store.load_silences(self.engine) if s.matches(labels)]
        for silence in ended:
            store.expire_silence(self.engine, silence.id, actor=store.os_user())
        self.notify(f"ended {len(ended)} silence(s)", markup=False)
        self._load()

    @on(DataTable.RowSelected, "#alerts-table")
    def _open(self, message: DataTable.RowSelected) -> None:
        self.app.push_screen(AlertScreen(self.engine, str(message.row_key.value)))


def alert_detail(alert: dict[str, Any], deliveries: list[dict[str, Any]]) -> Table:
    table = Table(show_header=False, expand=True, title=Text(f"alert {visible(alert['alert_id'])}"),
                  title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for key in ("severity", "status", "count", "codes", "user_id", "ring_id", "request_id",
                "regulation", "title"):
        if alert.get(key) not in (None, [], ""):
            table.add_row(key, plain(alert[key]))
    table.add_row("created / updated", f"{clock(alert['created_at'])} / "
                                       f"{clock(alert['updated_at'])}")
    table.add_row("body", Text(visible(alert["body"], keep_newlines=True)))
    for delivery in deliveries:
        state = Text(delivery["state"], style="green" if delivery["state"] == "sent" else "red")
        state.append(f"  attempts {delivery['attempts']}")
        if delivery["last_error"]:
            state.append(f"  last error: {visible(delivery['last_error'])}")
        table.add_row(Text(f"delivery {visible(delivery['channel'])}"), state)
    return table


class AlertScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("e", "events", "Open its events")]

    def __init__(self, engine: Any, alert_id: str) -> None:
        super().__init__()
        self.engine = engine
        self.alert_id = alert_id
        self.alert: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="alert-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True)
    def load(self) -> None:
        alert = store.get_alert(self.engine, self.alert_id)
        deliveries = store.alert_deliveries(self.engine, self.alert_id) if alert else []
        self.app.call_from_thread(self._show, alert, deliveries)

    def _show(self, alert: dict[str, Any] | None, deliveries: list[dict[str, Any]]) -> None:
        self.alert = alert
        detail = self.query_one("#alert-detail", Static)
        if alert is None:
            detail.update(plain(f"no alert {self.alert_id}"))
            return
        detail.update(alert_detail(alert, deliveries))

    def action_events(self) -> None:
        if not self.alert or not self.alert["event_ids"]:
            self.notify("this alert names no events", severity="warning")
            return
        self.app.post_message(LiveView.Open(self.alert["event_ids"][0],
                                            self.alert.get("user_id") or ""))
