"""The status bar: is the agent up (heartbeat), which database, lag, last event."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import Static

from storage.heartbeat import DOWN, NEVER, STOPPED, agent_health, lag_s
from tui.safe import ago, clock


def agent_text(beat: dict[str, Any] | None, now: float) -> Text:
    """The agent's state as `ottwatch status` decides it (storage.heartbeat), as a
    styled span (not a base style, which what is appended after it would inherit)."""
    health = agent_health(beat, now)
    since = ago(health.since_beat_s or 0.0)
    if health.state == NEVER:
        label, style = " agent: never seen ", "black on grey50"
    elif health.state == STOPPED:
        label, style = f" agent stopped ({since} ago) ", "black on yellow"
    elif health.state == DOWN:
        label, style = f" agent down ({since} since heartbeat) ", "white on red"
    else:
        label, style = f" agent up pid {health.pid} ", "black on green"
    return Text().append(label, style=style)


def status_text(beat: dict[str, Any] | None, database: str, newest_ts: float | None,
                now: float) -> Text:
    text = agent_text(beat, now)
    text.append(f"  db {database}")
    if newest_ts is not None:
        text.append(f"  last event {clock(newest_ts)}")
        info = (beat or {}).get("info") or {}
        if agent_health(beat, now).up and (lag := lag_s(newest_ts, now)) is not None:
            text.append(f"  lag {ago(lag)}")
        if info.get("quarantined"):
            text.append(f"  quarantined {info['quarantined']:,}")
    return text


class StatusBar(Static):
    def show(self, beat: dict[str, Any] | None, database: str, newest: float | None) -> None:
        text = status_text(beat, database, newest, time.time())
        if text != self.content:
            self.update(text, layout=False)  # one line, its size fixed by the stylesheet
