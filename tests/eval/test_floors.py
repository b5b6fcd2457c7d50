"""The floors of issue 14 on the small seeds (`tests/eval/conftest.py`), one test each.

Floors that wait on a detector fix being made elsewhere are expected to fail until it
lands (`xfail(strict=False)`, so they turn into passes without an edit); the reason
names the fix. docs/evaluation.md lists the figures seen."""

from __future__ import annotations

import pytest

from ottwatch.evaluation.floors import ALERTED_KINDS
from ottwatch.evaluation.labels import JUDGED_CODES

TRAVEL = "geo.impossible_travel judged against the owner's trusted location (not an " \
         "attacker's failed logins)"
TAKEOVER = "account.takeover_pattern only on established accounts"
SPIKE = "multi-scale velocity.access_spike (a scraper's 5-10 a minute is under the " \
        "per-minute spike_min_count)"
CONSENT = "consent.missing on session telemetry (pause, seek, stop)"
DEADLINE = "the regulation.deadline_near code for warnings (a warning now carries the " \
           "*_overdue code)"
EXPORT = "data.bulk_export cold start: a first export under export_absolute_bytes (50 GB) " \
         "waits for export_population_min_count (200) exports; not in anyone's fix yet"
WAITING = {
    "recall geo.impossible_travel": TRAVEL, "precision geo.impossible_travel": TRAVEL,
    "alerted impossible_travel": TRAVEL,
    "recall account.takeover_pattern": TAKEOVER, "precision account.takeover_pattern": TAKEOVER,
    "recall velocity.access_spike": SPIKE, "precision velocity.access_spike": SPIKE,
    "alerted scraper": SPIKE,
    # the anonymizer incidents missed are the scrapers on the hosting block
    "alerted anonymizer": SPIKE,
    "recall consent.missing": CONSENT, "precision consent.missing": CONSENT,
    "on-time called overdue": DEADLINE,
    "recall data.bulk_export": EXPORT, "precision data.bulk_export": EXPORT,
    "alerted bulk_export": EXPORT,
}
FLOORS = [
    *(f"{measure} {code}" for code in JUDGED_CODES for measure in ("recall", "precision")),
    "benign high/critical", "travellers high/critical",
    *(f"alerted {kind}" for kind in ALERTED_KINDS),
    "overdue alerted", "on-time called overdue",
]


def _case(name: str) -> object:
    reason = WAITING.get(name)
    marks = [pytest.mark.xfail(strict=False, reason=f"waits for {reason}")] if reason else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_case(name) for name in FLOORS])
def test_floor(small_eval, name: str) -> None:
    report, _ = small_eval
    held = {f["name"]: f for f in report["floors"]}
    floor = held.get(name)
    if floor is None:
        pytest.skip(f"{name}: nothing planted to judge it on in the small seeds")
    assert floor["passed"], f"{name}: {floor['value']} (floor {floor['op']} {floor['limit']})"


def test_the_floors_that_must_hold_are_judged_on_something(small_eval) -> None:
    """The skips above are for codes nothing in the small seeds plants (deadline codes,
    mostly); everything the issue names as a floor is there."""
    report, _ = small_eval
    held = {f["name"] for f in report["floors"]}
    assert {"benign high/critical", "travellers high/critical", "overdue alerted",
            "on-time called overdue", "recall geo.anonymizer", "recall auth.failure_burst",
            "recall ring.member", "recall input.attack_pattern",
            "recall stream.concurrency_exceeded"} <= held
    assert {f"alerted {kind}" for kind in ALERTED_KINDS if kind != "impossible_travel"} <= held
