"""The forensic options of `ottwatch replay`: a window with its warm-up, filters, rule
hit counts and expectations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ottwatch.commands.common import FilePath, Refusal

FILTERS = (
    click.option("--since", default=None, metavar="TIME",
                 help="Store and report from this event time (RFC 3339 or before now, "
                      "e.g. -2h); earlier events warm the detectors."),
    click.option("--until", default=None, metavar="TIME",
                 help="Store and report up to this event time (not included); reading stops "
                      "soon after it."),
    click.option("--warm", default="7d", show_default=True, metavar="DURATION",
                 help="How far before --since events are scored, not stored, so detectors "
                      "start with history."),
    click.option("--user", "users", multiple=True, help="Only this account (repeatable)."),
    click.option("--ip", "ips", multiple=True,
                 help="Only events from this address or CIDR network (repeatable)."),
    click.option("--ring", default=None,
                 help="Only the accounts of this ring, as the replay ties them in."),
    click.option("--code", "codes", multiple=True, help="Only events this code fired on."),
    click.option("--level", "levels", multiple=True,
                 type=click.Choice(["low", "medium", "high", "critical"]),
                 help="Only events at this level (repeatable)."),
    click.option("--region", "regions", multiple=True,
                 help="Only events claiming this region (`DE` takes `DE-BY`)."),
    click.option("--compare", "compare_path", type=FilePath(exists=True), default=None,
                 help="Also score every event with this config (B) and print what B adds, "
                      "removes and changes against --config (A); B stores nothing."),
    click.option("--json", "as_json", is_flag=True,
                 help="With --compare: print the comparison as JSON."),
    click.option("--stats", is_flag=True,
                 help="Per reason code: events, users, first/last time, weights, alerts."),
    click.option("--stats-json", "stats_json", type=FilePath(), default=None,
                 help="Also write the rule hit counts here as JSON."),
    click.option("--expect", "expect_path", type=FilePath(exists=True), default=None,
                 help="Check counts and named events (docs/forensics.md); exit 1 if any "
                      "fails."),
    click.option("--result", "result_path", type=FilePath(), default=None,
                 help="Write the --expect result here: JUnit XML for a .xml name, else JSON."),
)


def forensic_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(FILTERS):
        command = option(command)
    return command


@dataclass(slots=True)
class Forensics:
    """What the options ask of one replay."""

    scope: Any | None = None  # agent.replay_scope.ReplayScope
    stats: Any | None = None  # ottwatch.forensics.rule_stats.RuleStats
    expect: Any | None = None  # ottwatch.forensics.expect.Expectations
    seen: dict[str, Any] = field(default_factory=dict)

    def after_commit(self, events: list[Any], assessments: list[Any], findings: list[Any]
                     ) -> None:
        if self.stats is not None:
            self.stats.add(assessments)
        if self.expect is not None and (watched := self.expect.watched):
            from ottwatch.forensics.expect import Seen

            for assessment in assessments:
                if assessment.event_id in watched:
                    self.seen[assessment.event_id] = Seen(
                        assessment.level, frozenset(r.code for r in assessment.reasons))


def build_forensics(*, since: str | None, until: str | None, warm: str, users: tuple[str, ...],
                    ips: tuple[str, ...], ring: str | None, codes: tuple[str, ...],
                    levels: tuple[str, ...], regions: tuple[str, ...], stats: bool,
                    expect_path: str | None, stats_json: str | None = None) -> Forensics:
    from agent.replay_scope import ReplayScope
    from ottwatch.durations import parse_duration
    from ottwatch.forensics.filters import EventFilter
    from ottwatch.forensics.window import Window

    forensics = Forensics()
    try:
        window = Window.parse(since, until, time.time())
        only = EventFilter.build(users=users, ips=ips, codes=codes, levels=levels,
                                 regions=regions)
        warm_s = parse_duration(warm)
    except ValueError as exc:
        raise Refusal(str(exc)) from None
    if window.bounded or not only.empty or ring:
        forensics.scope = ReplayScope(window, only, warm_s, ring_id=ring)
    if stats or expect_path or stats_json:
        from ottwatch.forensics.rule_stats import RuleStats

        forensics.stats = RuleStats()
    if expect_path:
        from ottwatch.forensics.expect import ExpectationsError, load_expectations

        try:
            forensics.expect = load_expectations(Path(expect_path))
        except ExpectationsError as exc:
            raise click.ClickException(str(exc)) from None
    return forensics
