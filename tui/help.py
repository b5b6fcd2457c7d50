"""The help screen: every key, and what the screens are for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# ottwatch console

The console reads the agent's database; it never scores. It works with or
without a running agent (live duty or forensics on a replay database).

| key | where | does |
|---|---|---|
| `1`–`7` | anywhere | Live, Alerts, Rings, Regulations, Models, Review, Audit |
| `/` | Live | filter: `level:high code:geo.anonymizer user:ID region:DE ip:ADDR ring:ID since:-2h until:TIME` |
| `/` | Alerts | filter: `level:high code:CODE user:ID ring:ID since:-1d until:TIME` |
| `i` | Live, Alerts, Rings | write the incident report of the selected user or ring (HTML, `reports/` beside the database) |
| `e` | Live | every event / only those that scored (the default) |
| `p` | Live | pause / resume following new rows |
| `enter` | a row | drill down into the event and its user |
| `v` / `b` | drill-down, Review | label violation / benign (with a note) |
| `a` / `s` / `u` | Alerts | acknowledge / silence / unsilence |
| `r` | Models | retrain (the running agent does it) |
| `P` / `R` | Models | promote the newest candidate / roll back |
| `ctrl+p` | anywhere | command palette: every screen and action |
| `escape` | a sub-screen | back |
| `q` | anywhere | quit |

Strings from events are shown literally: markup and escape sequences are
displayed, never interpreted.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
