"""The status bar: is the agent up (heartbeat), which database, lag, last event."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui.safe import ago, clock

STALE_AFTER_S = 20.0


def status_text(beat: dict[str, Any] | None, database: str, newest_ts: float | None,
                now: float) -> Text:
    text = Text()
    if beat is None:
        text.append(" agent: never seen ", style="black on grey50")
    elif now - beat["beat_at"] > STALE_AFTER_S:
        text.append(f" agent down ({ago(now - beat['beat_at'])} since heartbeat) ",
                    style="white on red")
    else:
        text.append(f" agent up pid {beat['pid']} ", style="black on green")
    text.append(f"  db {database}")
    if newest_ts is not None:
        text.append(f"  last event {clock(newest_ts)}")
        info = (beat or {}).get("info") or {}
        if beat is not None and now - beat["beat_at"] <= STALE_AFTER_S:
            text.append(f"  lag {ago(now - newest_ts)}")
        if info.get("quarantined"):
            text.append(f"  quarantined {info['quarantined']:,}")
    return text


class StatusBar(Static):
    def show(self, beat: dict[str, Any] | None, database: str, newest: float | None) -> None:
        text = status_text(beat, database, newest, time.time())
        if text != self.content:
            self.update(text, layout=False)  # one line, its size fixed by the stylesheet
