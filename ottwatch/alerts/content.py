"""What a notification says: `[SEVERITY] code — subject`, then the alert id, counts,
score, reasons, regulation and deadline (from the finding), the worst events and
the command that opens the case. Text, markdown or HTML; the stored details are
already scrubbed of payment tokens and secrets."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ottwatch.alerts.grouping import Group, TopEvent, subject_text

DIGEST_CODE = "alerts.digest"
DETAIL_CHARS = 300
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


class Format:
    def __init__(self, name: str) -> None:
        self.name = name

    def esc(self, text: str) -> str:
        if self.name == "html":
            return html.escape(text, quote=False)
        if self.name == "markdown":
            return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
        return text

    def code(self, text: str) -> str:
        if self.name == "html":
            return f"<code>{html.escape(text, quote=False)}</code>"
        if self.name == "markdown":
            return f"`{text.replace('`', '')}`"
        return text

    def strong(self, text: str) -> str:
        if self.name == "html":
            return f"<b>{html.escape(text, quote=False)}</b>"
        if self.name == "markdown":
            return f"**{self.esc(text)}**"
        return text

    def field(self, label: str, value: str) -> str:
        """`value` is already formatted."""
        return f"{self.strong(label + ':')} {value}"

    def items(self, heading: str, entries: Sequence[str]) -> str:
        if self.name == "html":
            inner = "".join(f"<li>{e}</li>" for e in entries)
            return f"<div>{self.strong(heading + ':')}<ul>{inner}</ul></div>"
        return "\n".join([self.strong(heading + ":"), *(f"- {e}" for e in entries)])

    def join(self, blocks: Sequence[str]) -> str:
        if self.name == "html":
            return "".join(b if b.startswith("<div>") else f"<p>{b}</p>" for b in blocks)
        return ("\n\n" if self.name == "markdown" else "\n").join(blocks)


def title_for(severity: str, code: str, subject: str | None) -> str:
    return f"[{severity.upper()}] {code} — {subject or 'all users'}"


def alert_title(group: Group) -> str:
    subject = subject_text(group.labels)
    if subject is None and group.notes:
        subject = group.notes[-1].title
    return title_for(group.severity, group.code, subject)


def alert_body(group: Group, body_format: str) -> str:
    f = Format(body_format)
    noun = "finding" if group.notes and not group.top else "event"
    count = f"{group.count} {noun}{'s' if group.count != 1 else ''}"
    span = moment(group.started) if group.last_ts == group.started else \
        f"{moment(group.started)} to {moment(group.last_ts)}"
    blocks = [f"{f.strong('Alert')} {f.code(group.alert_id)} · {f.esc(group.severity)} · "
              f"{f.esc(count)} · {f.esc(span)}"]
    subject = subject_text(group.labels)
    facts = []
    if subject:
        extras = [f"user {group.labels['user_id']}" if group.labels.get("user_id")
                  and not subject.startswith("user ") else "",
                  f"segment {group.labels['segment']}" if group.labels.get("segment") else ""]
        extra = ", ".join(e for e in extras if e)
        facts.append(f.field("Subject", f.esc(subject + (f" ({extra})" if extra else ""))))
    if group.top:
        facts.append(f.field("Worst score", f.esc(f"{group.top[0].score:g}")))
    if group.labels.get("regulation"):
        facts.append(f.field("Regulation", f.esc(str(group.labels["regulation"]))))
    if group.codes:
        reasons = ", ".join(f"{code} ×{n}" for code, n in
                            sorted(group.codes.items(), key=lambda kv: (-kv[1], kv[0])))
        facts.append(f.field("Reasons", f.esc(reasons)))
    blocks.extend(facts)
    if group.notes:
        blocks.append(f.items("Findings", [
            f"{f.esc(n.title)}{' — ' + f.esc(_clip(n.detail)) if n.detail else ''}"
            for n in reversed(group.notes)]))
    if group.top:
        blocks.append(f.items(f"Top {len(group.top)} events by score",
                              [_event_line(f, e) for e in group.top]))
    commands = [f.code(f"ottwatch tui --alert {group.alert_id}")]
    worst = group.top[0].event_id if group.top else \
        (group.event_ids[0] if group.event_ids else None)
    if worst:
        commands.append(f.code(f"ottwatch explain {worst}"))
    blocks.append(f.field("Open the case", " · ".join(commands)))
    return f.join(blocks)


def _event_line(f: Format, event: TopEvent) -> str:
    if event.rendered is not None and event.rendered[0] == f.name:
        return event.rendered[1]
    reasons = "; ".join(
        f"{code} ({weight:g}){': ' + _clip(detail) if detail else ''}"
        for code, weight, detail in event.reasons)
    line = (f"{f.code(event.event_id)} {f.esc(moment(event.ts))} score "
            f"{f.esc(f'{event.score:g}')} ({f.esc(event.level)})"
            f"{': ' + f.esc(reasons) if reasons else ''}")
    event.rendered = (f.name, line)
    return line


def moment(ts: float) -> str:
    """`2026-01-01T08:00:00Z`: to the second, in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _clip(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def digest_title(severity: str, count: int, channel: str) -> str:
    return title_for(severity, DIGEST_CODE,
                     f"{count} alert{'s' if count != 1 else ''} held back on {channel}")


def digest_body(alerts: Sequence[Mapping[str, Any]], body_format: str) -> str:
    """The alerts the storm limit folded (alert id, title, count), worst first."""
    f = Format(body_format)
    lines = [f"{f.code(a['alert_id'])} {f.esc(a['title'])} ({a['count']}×)" for a in alerts]
    return f.join([
        f.esc(f"The storm limit held back {len(alerts)} notification"
              f"{'s' if len(alerts) != 1 else ''}; each alert is listed once."),
        f.items("Alerts", lines),
        f.field("See them all", f.code("ottwatch alerts list")),
    ])
