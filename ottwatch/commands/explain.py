"""`ottwatch explain EVENT_ID`: one event, its assessment and every reason behind it.

Every value comes from the input and is shown as plain text (`ottwatch.safe_text`):
never interpreted as Rich markup, control and format characters made visible.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from ottwatch.commands.common import Refusal, config_option, db_option, load, open_existing
from ottwatch.commands.scope_options import build_scope, scope_options
from ottwatch.events import ts_to_text
from ottwatch.exports import EVENT_FIELDS
from ottwatch.safe_text import dumps, plain, visible
from storage import console

LEVEL_STYLES = {"low": "green", "medium": "yellow", "high": "bold red", "critical": "bold white on red"}
DECISION_STYLES = {"allow": "green", "review": "yellow", "block": "bold red"}


def explanation(engine: Engine, event_id: str) -> dict[str, Any] | None:
    """The event, its assessment (or None), its labels and its user's segment."""
    event = console.event(engine, event_id)
    if event is None:
        return None
    assessment = console.assessment(engine, event_id)
    labels = console.event_labels(engine, event_id)
    user = console.user_state(engine, event["user_id"])
    segment = None if user is None else user["segment"]
    return {
        "event": {k: event[k] for k in EVENT_FIELDS if event[k] is not None},
        "assessment": None if assessment is None else {
            "score": assessment["score"], "level": assessment["level"],
            "decision": assessment["decision"], "threshold": assessment["threshold"],
            "reasons": assessment["reasons"] or [],
        },
        "labels": [{**label, "created_at": ts_to_text(label["created_at"])} for label in labels],
        "segment": segment,
    }


def _text(value: Any) -> Text:
    if isinstance(value, (dict, list)):
        return plain(dumps(value))
    return plain(value)


def render(found: dict[str, Any]) -> Group:
    event = found["event"]
    title = Text("event ")
    title.append(visible(event["event_id"]), style="bold")
    facts = Table(show_header=False, title=title, title_justify="left", box=None)
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    for name, value in event.items():
        facts.add_row(Text(name), _text(value))
    if found["segment"] is not None:
        facts.add_row("user segment", _text(found["segment"]))
    parts: list[Any] = [facts, Text("")]
    assessment = found["assessment"]
    if assessment is None:
        parts.append(Text("not assessed (stored with scoring off)", style="italic"))
    else:
        summary = Text()
        summary.append(f"score {assessment['score']:g}", style="bold")
        summary.append("  level ")
        level = str(assessment["level"])
        summary.append(visible(level), style=LEVEL_STYLES.get(level, ""))
        summary.append("  decision ")
        decision = str(assessment["decision"])
        summary.append(visible(decision), style=DECISION_STYLES.get(decision, ""))
        summary.append(f"  threshold {assessment['threshold']:g}")
        parts.append(summary)
        reasons = Table(title="reasons", title_justify="left")
        reasons.add_column("code")
        reasons.add_column("weight", justify="right")
        reasons.add_column("detail", overflow="fold")
        for reason in assessment["reasons"]:
            code = _text(reason.get("code", ""))
            if reason.get("shadow"):
                code.append(" (shadow: not scored)", style="dim")
            reasons.add_row(code, _text(reason.get("weight", "")),
                            _text(reason.get("detail", "")), style="dim" if reason.get("shadow")
                            else None)
        if not assessment["reasons"]:
            reasons.add_row(Text("-"), Text("-"), Text("no reasons: nothing was found"))
        parts.append(reasons)
    for label in found["labels"]:
        parts.append(Text.assemble("label ", (visible(label["label"]), "bold"), " by ",
                                   visible(label["created_by"]), " at ", label["created_at"],
                                   ": " if label["note"] else "", visible(label["note"] or "")))
    return Group(*parts)


@click.command("explain")
@click.argument("event_id", required=False)
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@scope_options
@click.option("--limit", default=20, show_default=True,
              help="With filters instead of EVENT_ID: at most this many events, oldest first.")
def command(event_id: str | None, config_path: str | None, db: str | None, as_json: bool,
            limit: int, **filters: Any) -> None:
    """Show EVENT_ID, its score, level, decision and threshold, and every reason with
    its weight and detail; or, given --since/--until and filters instead, each event
    they find."""
    config = load(config_path, db)
    engine = open_existing(config.storage.url)
    try:
        if event_id is not None:
            found = [explanation(engine, event_id)]
            if found[0] is None:
                raise click.ClickException(
                    f"no event with id {visible(event_id)!r} in the database")
        else:
            found = _found(engine, build_scope(engine, **filters), limit)
    finally:
        engine.dispose()
    if as_json:
        click.echo(dumps(found[0] if event_id is not None else found, indent=True))
        return
    console = Console(highlight=False)
    for one in found:
        console.print(render(one))  # type: ignore[arg-type]
    if event_id is None:
        console.print(plain(f"{len(found)} event{'' if len(found) == 1 else 's'}"
                            + (f" (the first {limit})" if len(found) >= limit else "")))


def _found(engine: Engine, scope: Any, limit: int) -> list[dict[str, Any]]:
    from itertools import islice

    from ottwatch.exports import events

    if scope.everything:
        raise Refusal("name an EVENT_ID, or narrow with --since/--until, --user, --ip, "
                      "--ring, --code, --level or --region")
    _columns, records = events(engine, scope)
    return [found for record in islice(records, limit)
            if (found := explanation(engine, str(record["event_id"]))) is not None]
