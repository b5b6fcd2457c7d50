"""Findings (regulation deadlines and their early warnings, rings, drift, agent
health) become alerts. The alert sink (`ottwatch.alerts.AlertSink`) groups them
with the alerting assessments, routes and delivers them; these helpers give the
alert a single finding starts, for tools and tests that record one directly.

The alert id is derived from the group key and the episode's start, so a replay
of the same input yields the same alerts, and a finding raised twice (after a
crash between raising and committing) is stored once.
"""

from __future__ import annotations

from typing import Any

from ottwatch.alerts.grouping import Group, group_key, subject_kind
from ottwatch.alerts.rows import alert_row, finding_item
from ottwatch.alerts.settings import AlertSettings
from ottwatch.alerts.sink import AlertSink
from ottwatch.pipeline import Finding


def finding_subject(finding: Finding) -> str:
    labels = {"code": finding.code, "user_id": finding.user_id, "ring_id": finding.ring_id,
              "request_id": finding.request_id}
    kind = subject_kind(labels)
    return str(labels[kind]) if kind else "-"


def finding_group(finding: Finding, settings: AlertSettings | None = None) -> Group:
    settings = settings or AlertSettings()
    item = finding_item(finding, set())
    group = Group.start(group_key(item.labels, settings.group_by), item, item.ts)
    group.add(item, item.ts, top_events=settings.top_events,
              max_event_ids=settings.max_event_ids)
    return group


def alert_id_for(finding: Finding) -> str:
    """The id of the alert episode this finding starts."""
    return finding_group(finding).alert_id


def finding_to_alert(finding: Finding, settings: AlertSettings | None = None) -> dict[str, Any]:
    """The `alerts` row of the episode this finding starts."""
    settings = settings or AlertSettings()
    return alert_row(finding_group(finding, settings), settings.body_format)


class FindingsRecorder(AlertSink):
    """The alert sink with default settings and no channels: findings and alerting
    assessments are grouped and recorded, nothing is sent. `ottwatch.alerts.
    build_alert_sink(config.alerts)` builds the configured, delivering one."""

    def __init__(self, settings: AlertSettings | None = None) -> None:
        super().__init__(settings, (), deliver=False)
