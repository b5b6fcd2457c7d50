"""The floors of issue 14 on the small seeds (`tests/eval/conftest.py`), one test each.
docs/evaluation.md lists the figures seen on the default seeds."""

from __future__ import annotations

import pytest

from ottwatch.evaluation.floors import ALERTED_KINDS
from ottwatch.evaluation.labels import JUDGED_CODES

FLOORS = [
    *(f"{measure} {code}" for code in JUDGED_CODES for measure in ("recall", "precision")),
    "benign high/critical", "travellers high/critical",
    *(f"alerted {kind}" for kind in ALERTED_KINDS),
    "overdue alerted", "on-time called overdue",
]


@pytest.mark.parametrize("name", FLOORS)
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
