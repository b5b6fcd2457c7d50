"""Rule hit counts and expectations: counts per code and per alert, weights spread,
named events that must or must not fire; failures say what was found; the JUnit XML
is what CI systems parse."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ottwatch.forensics.expect import (
    ExpectationsError,
    Seen,
    check,
    load_expectations,
    to_json,
    to_junit,
)
from ottwatch.forensics.rule_stats import RuleStats
from ottwatch.pipeline import Assessment, Reason


def assessed(event_id: str, user: str, ts: float, *reasons: tuple[str, float]) -> Assessment:
    return Assessment(event_id, user, ts, "-", sum(w for _, w in reasons), "low", "allow", 40,
                      [Reason(code, weight, "") for code, weight in reasons])


def test_stats_count_events_users_times_weights_and_alerts() -> None:
    stats = RuleStats()
    stats.add([assessed("e1", "u1", 100, ("a", 10), ("b", 5)),
               assessed("e2", "u1", 300, ("a", 30), ("a", 2)),  # twice on one event: 1 event
               assessed("e3", "u2", 200, ("a", 20))])
    stats.add([assessed("e4", "u3", 50)])
    stats.add_alert(["a", "a", "c"])
    rows = {row.code: row for row in stats.table()}
    a = rows["a"]
    assert (a.events, a.users, a.first, a.last, a.alerts) == (3, 2, 100, 300, 1)
    assert (a.weight_min, a.weight_median, a.weight_max) == (2, 15, 30)
    assert rows["b"].events == 1 and rows["b"].alerts == 0
    assert rows["c"].events == 0 and rows["c"].alerts == 1 and rows["c"].first is None
    assert [row.code for row in stats.table()] == ["a", "b", "c"]
    assert stats.events == 4 and stats.counts() == {"a": 3, "b": 1, "c": 0}


EXPECT = """\
[codes]
"auth.failure_burst" = { min = 1, max = 10 }
"geo.impossible_travel" = { events = 2 }

[alerts]
"account.takeover_pattern" = { min = 1 }

[[must_fire]]
event_id = "e-9"
code = "auth.failure_burst"
why = "the stuffing run of 3 Sep"

[[must_not_fire]]
event_id = "e-10"
level = "high"
why = "an honest traveller"
"""


def test_expectations_pass_and_fail_with_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "expect.toml"
    path.write_text(EXPECT, encoding="utf-8")
    expect = load_expectations(path)
    assert expect.watched == {"e-9", "e-10"}
    good = check(expect, {"auth.failure_burst": 4, "geo.impossible_travel": 2},
                 {"account.takeover_pattern": 1},
                 {"e-9": Seen("high", frozenset({"auth.failure_burst"})),
                  "e-10": Seen("medium", frozenset({"geo.impossible_travel"}))})
    assert all(c.passed for c in good) and len(good) == 5
    bad = check(expect, {"auth.failure_burst": 11}, {},
                {"e-10": Seen("critical", frozenset({"geo.impossible_travel"}))})
    failed = {c.name: c.message for c in bad if not c.passed}
    assert failed == {
        "code auth.failure_burst": "11 (expected 1 to 10)",
        "code geo.impossible_travel": "0 (expected exactly 2)",
        "alerts account.takeover_pattern": "0 (expected at least 1)",
        "e-9 fires auth.failure_burst": "the event was not scored (not in the log or the "
                                        "window)",
        "e-10 does not fire >= high": "critical, codes: geo.impossible_travel",
    }
    result = to_json(bad)
    assert result["passed"] is False and result["failures"] == 5

    suite = ET.fromstring(to_junit(bad, "corpus"))
    [testsuite] = suite.findall("testsuite")
    assert testsuite.get("tests") == "5" and testsuite.get("failures") == "5"
    assert len(testsuite.findall("testcase/failure")) == 5


def test_a_wrong_expectations_file_is_one_line_per_mistake_with_its_line(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "expect.toml"
    path.write_text('[codes]\n"a" = { mni = 1 }\n\n[[must_fire]]\nevent_id = "e"\n'
                    'level = "hihg"\n', encoding="utf-8")
    with pytest.raises(ExpectationsError) as error:
        load_expectations(path)
    lines = str(error.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}:2: ") and "mni" in lines[0] and "min" in lines[0]
    assert lines[1].startswith(f"{path}:4: ") and "hihg" in lines[1]
