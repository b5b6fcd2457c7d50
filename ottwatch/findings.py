"""Findings (deadlines, rings, drift) become alert records.

The alert id is derived from what the finding is about and when it fell due, so
a replay of the same input yields the same alerts, and a finding raised twice
(after a crash between raising and committing) is stored once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ottwatch.pipeline import Batch, Finding


def finding_subject(finding: Finding) -> str:
    return finding.request_id or finding.ring_id or finding.user_id or "-"


def alert_id_for(finding: Finding) -> str:
    key = f"{finding.code}|{finding_subject(finding)}|{finding.ts:.6f}"
    return "al-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def finding_to_alert(finding: Finding) -> dict[str, Any]:
    return {
        "alert_id": alert_id_for(finding),
        "group_key": f"{finding.code}|{finding_subject(finding)}",
        "created_at": finding.ts,
        "updated_at": finding.ts,
        "severity": finding.severity,
        "codes": [finding.code],
        "user_id": finding.user_id,
        "ring_id": finding.ring_id,
        "request_id": finding.request_id,
        "regulation": finding.regulation,
        "event_ids": finding.event_ids,
        "count": 1,
        "status": "open",
        "title": finding.title,
        "body": finding.detail,
    }


class FindingsRecorder:
    """The simplest sink: every finding is recorded as an open alert."""

    name = "findings"

    def consume(self, batch: Batch) -> None:
        for finding in batch.findings:
            batch.upsert("alerts", finding_to_alert(finding))
