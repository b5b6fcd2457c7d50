"""The compliance report: each request counted once by how it stands at the period's
end (closed by the deadline, closed after it or still open past it, open with time
left), edges included; on a replayed database its numbers are what SQL counts."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from ottwatch.regulations.table import default_table
from ottwatch.reports.compliance import build_compliance
from tests.conftest import REPO

DAY = 86_400.0
T = 1_790_000_000.0


def timer(request: str, opened: float, deadline: float, closed: float | None,
          regulation: str = "GDPR", kind: str = "dsar") -> dict[str, object]:
    return {"request_id": request, "regulation": regulation, "kind": kind, "opened_at": opened,
            "deadline": deadline, "closed_at": closed}


def test_each_request_stands_as_at_the_end_of_the_period() -> None:
    until = T + 40 * DAY
    report = build_compliance(default_table(), [
        timer("closed-at-deadline", T, T + 30 * DAY, T + 30 * DAY),
        timer("closed-late", T, T + 30 * DAY, T + 31 * DAY),
        timer("open-past-deadline", T, T + 30 * DAY, None),
        timer("deadline-at-the-end", T + 10 * DAY, until, None),
        timer("closed-after-the-end", T + 20 * DAY, T + 50 * DAY, until + DAY),
        timer("open-with-time-left", T + 30 * DAY, T + 45 * DAY, None),
        timer("breach", T, T + 3 * DAY, T + 2 * DAY, kind="breach"),
        timer("gone", T, T + DAY, None, regulation="OLD_LAW"),
    ], {("DE", True): 8, ("FR", False): 2, ("US-CA", True): 5, (None, True): 4},
        since=T, until=until)
    by_id = {r.regulation: r for r in report.regulations}
    dsar = by_id["GDPR"].kinds["dsar"]
    assert (dsar.opened, dsar.on_time, dsar.late, dsar.open) == (6, 1, 3, 2)
    assert dsar.late_requests == ["closed-late", "open-past-deadline", "deadline-at-the-end"]
    assert dsar.least_time_left_s == 5 * DAY  # of the two open, the nearer deadline
    breach = by_id["GDPR"].kinds["breach"]
    assert (breach.opened, breach.on_time) == (1, 1)
    assert (by_id["GDPR"].consent_events, by_id["GDPR"].consented) == (10, 8)
    assert by_id["CCPA"].consent_coverage == 1.0 and by_id["LGPD"].consent_coverage is None
    assert by_id["OLD_LAW"].kinds["dsar"].late == 1  # a removed regulation is still shown
    assert "Art. 12(3)" in by_id["GDPR"].sources["dsar"]


def sql_counts(db: Path, since: float, until: float) -> dict[tuple[str, str], list[int]]:
    """opened, on time, late, open per (regulation, kind), counted by SQL alone."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("""
            SELECT regulation, kind, COUNT(*),
              SUM(closed_at IS NOT NULL AND closed_at < :u AND closed_at <= deadline),
              SUM((closed_at IS NOT NULL AND closed_at < :u AND closed_at > deadline)
                  OR ((closed_at IS NULL OR closed_at >= :u) AND deadline <= :u)),
              SUM((closed_at IS NULL OR closed_at >= :u) AND deadline > :u)
            FROM timers WHERE opened_at >= :s AND opened_at < :u
            GROUP BY regulation, kind""", {"s": since, "u": until}).fetchall()
    return {(r, k): list(counts) for r, k, *counts in rows}


def test_the_reports_numbers_are_what_the_database_holds(replayed: Path) -> None:
    with sqlite3.connect(replayed) as conn:
        first, last = conn.execute("SELECT MIN(ts), MAX(ts) FROM events").fetchone()
    since, until = int(first + 5 * DAY), int(last - 5 * DAY)  # requests over both edges

    def stamp(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

    done = subprocess.run(
        [sys.executable, "-m", "ottwatch", "report", "compliance", "--db", str(replayed),
         "--since", stamp(since), "--until", stamp(until), "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(done.stdout)
    found = {(r["regulation"], kind): [s["opened"], s["on_time"], s["late"], s["open"]]
             for r in report["regulations"] for kind, s in r["requests"].items() if s["opened"]}
    expected = sql_counts(replayed, since, until)
    assert found == expected and sum(v[0] for v in found.values()) >= 5
    assert sum(v[1] for v in found.values()) and sum(v[3] for v in found.values())

    with sqlite3.connect(replayed) as conn:
        flagged = conn.execute(
            "SELECT COUNT(*), SUM(has_consent) FROM events WHERE ts >= ? AND ts < ? AND "
            "has_consent IS NOT NULL AND (region = 'US-CA')", (since, until)).fetchone()
    ccpa = next(r for r in report["regulations"] if r["regulation"] == "CCPA")
    assert [ccpa["consent"]["events"], ccpa["consent"]["consented"]] == list(flagged)
    alerts = sum(sum(day.values()) for day in report["alerts_per_day"].values())
    with sqlite3.connect(replayed) as conn:
        assert alerts == conn.execute("SELECT COUNT(*) FROM alerts WHERE created_at >= ? AND "
                                      "created_at < ?", (since, until)).fetchone()[0]
