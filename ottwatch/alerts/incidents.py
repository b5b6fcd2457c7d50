"""What reaches people: per reason code, what one incident is (whose events gather
into one alert) and the severity it deserves on its own, whatever the event's score.

An assessment raises one alert item: for the reason whose incident is the most severe
(then the heaviest), keyed by that incident's subject: the user, the attacker's
address (a credential-stuffing run across many accounts is one incident), or the
regulation (consent lapses are a daily digest per regulation for the compliance
channel). Its severity is the incident's, or the assessment's level when that is
higher and at or above `min_level`. An assessment with no such reason alerts as before:
when its level reaches `min_level`, keyed by its top reason and user.

Rings, deadlines and drift are findings, with severities of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ottwatch.pipeline import Assessment
from ottwatch.vocabulary import DAY_S, LEVEL_RANK

Subject = Literal["user", "ip", "regulation"]
OFF = "off"


@dataclass(frozen=True, slots=True)
class IncidentRule:
    subject: Subject
    severity: str
    digest_s: float | None = None  # gathered per period, notified once at its end
    why: str = ""


RULES: dict[str, IncidentRule] = {
    "account.takeover_pattern": IncidentRule(
        "user", "high", why="a new device or country, then credentials or payment changed"),
    "data.bulk_export": IncidentRule("user", "high", why="personal data leaving in bulk"),
    "input.attack_pattern": IncidentRule("user", "high", why="an injection attempt"),
    "auth.failure_burst": IncidentRule(
        "ip", "high", why="credential stuffing or brute force: one run, however many accounts"),
    "geo.impossible_travel": IncidentRule(
        "user", "medium", why="the account in two places; high only with more evidence"),
    "stream.concurrency_exceeded": IncidentRule("user", "medium", why="plan sharing"),
    "velocity.access_spike": IncidentRule("user", "medium", why="scraping or automation"),
    "consent.missing": IncidentRule(
        "regulation", "medium", digest_s=DAY_S,
        why="a compliance lapse: one digest a day per regulation, to the compliance channel"),
}


@dataclass(frozen=True, slots=True)
class Incident:
    code: str
    subject: Subject
    severity: str
    digest_until: float | None  # the end of the digest period the event falls in


class IncidentRules:
    """The default rules with the operator's severities (`[alerts] incidents`) over them;
    a code set to "off" raises no incident of its own."""

    def __init__(self, severities: Mapping[str, str], min_level: str) -> None:
        rules = dict(RULES)
        for code, severity in severities.items():
            if severity == OFF:
                rules.pop(code, None)
            elif code in rules:
                rules[code] = IncidentRule(rules[code].subject, severity, rules[code].digest_s,
                                           rules[code].why)
            else:
                rules[code] = IncidentRule("user", severity)
        self.rules = rules
        self.min_rank = LEVEL_RANK[min_level]

    def incident(self, assessment: Assessment) -> Incident | None:
        """The incident this assessment raises, or None (not alerted)."""
        best: tuple[int, float, str] | None = None
        rule: IncidentRule | None = None
        for reason in assessment.reasons:
            found = self.rules.get(reason.code)
            if found is None or reason.shadow:
                continue
            key = (LEVEL_RANK[found.severity], reason.weight, reason.code)
            if best is None or key > best:
                best, rule = key, found
        level_rank = LEVEL_RANK[assessment.level]
        if rule is None or best is None:
            if level_rank < self.min_rank:
                return None
            return Incident(assessment.top_code or "score", "user", assessment.level, None)
        severity = assessment.level if level_rank >= self.min_rank and level_rank > best[0] \
            else rule.severity
        until = _period_end(assessment.ts, rule.digest_s) if rule.digest_s else None
        return Incident(best[2], rule.subject, severity, until)


def _period_end(ts: float, period: float) -> float:
    return (ts // period + 1) * period


def period_label(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")

