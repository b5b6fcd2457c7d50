"""`export` narrowed like a replay: each filter and the window give exactly the records
SQL finds in the same database (the window's start in, its end out)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO

CORPUS = REPO / "fixtures" / "corpus"


def ottwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    log, path = folder / "events.jsonl", folder / "r.db"
    assert ottwatch("fixtures", "generate", "--users", "300", "--days", "10", "--seed", "2",
                    str(log)).returncode == 0
    done = ottwatch("replay", "-q", "--config", str(CORPUS / "ottwatch.toml"), "--db",
                    str(path), str(log))
    assert done.returncode == 0, done.stderr
    return path


def exported(db: Path, what: str, *args: str) -> list[dict[str, object]]:
    done = ottwatch("export", "--db", str(db), "--what", what, *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def sql(db: Path, query: str, *args: object) -> set[object]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute(query, args)}


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_the_window_and_each_filter_give_what_sql_finds(db: Path) -> None:
    [total] = sql(db, "SELECT COUNT(*) FROM events")
    [since] = sql(db, "SELECT ts FROM events ORDER BY ts LIMIT 1 OFFSET ?", total // 3)
    [until] = sql(db, "SELECT ts FROM events ORDER BY ts LIMIT 1 OFFSET ?", 2 * total // 3)
    window = ["--since", stamp(since), "--until", stamp(until)]
    ids = {r["event_id"] for r in exported(db, "events", *window)}
    assert ids == sql(db, "SELECT event_id FROM events WHERE ts >= ? AND ts < ?", since, until)
    assert sql(db, "SELECT event_id FROM events WHERE ts = ?", since) <= ids  # start in
    assert not sql(db, "SELECT event_id FROM events WHERE ts = ?", until) & ids  # end out

    [(user, ip)] = sqlite3.connect(db).execute(
        "SELECT user_id, ip_address FROM events WHERE ip_address LIKE '%.%.%.%' "
        "GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT 1").fetchall()
    prefix = ip.rsplit(".", 1)[0]
    cases = [
        (("--user", user), "SELECT event_id FROM events WHERE user_id = ?", (user,)),
        (("--ip", f"{prefix}.0/24"), "SELECT event_id FROM events WHERE ip_address LIKE ?",
         (f"{prefix}.%",)),
        (("--region", "de"), "SELECT event_id FROM events WHERE region = 'DE' OR region LIKE "
                             "'DE-%'", ()),
        (("--level", "high", "--level", "critical"), "SELECT event_id FROM assessments WHERE "
                                                     "level IN ('high', 'critical')", ()),
        (("--code", "geo.anonymizer"), "SELECT event_id FROM assessments a, json_each("
                                       "a.reasons) r WHERE json_extract(r.value, '$.code') = "
                                       "'geo.anonymizer'", ()),
    ]
    for args, query, values in cases:
        expected = sql(db, query, *values)
        assert expected, args
        assert {r["event_id"] for r in exported(db, "events", *args)} == expected, args
        assert {r["event_id"] for r in exported(db, "assessments", *args)} == expected, args


def test_alerts_and_rings_of_a_user_alive_in_the_window(db: Path) -> None:
    [(user,)] = sqlite3.connect(db).execute(
        "SELECT user_id FROM alerts WHERE user_id IS NOT NULL GROUP BY user_id "
        "ORDER BY COUNT(*) DESC LIMIT 1").fetchall()
    found = {r["alert_id"] for r in exported(db, "alerts", "--user", user)}
    assert found == sql(db, "SELECT alert_id FROM alerts WHERE user_id = ?", user)
    [(first, last)] = sqlite3.connect(db).execute(
        "SELECT MIN(created_at), MAX(updated_at) FROM alerts").fetchall()
    middle = (first + last) / 2
    alive = {r["alert_id"] for r in exported(db, "alerts", "--since", stamp(middle),
                                             "--until", stamp(middle + 86_400))}
    assert alive == sql(db, "SELECT alert_id FROM alerts WHERE created_at < ? AND "
                            "updated_at >= ?", middle + 86_400, middle) and alive
    rings = exported(db, "rings")
    if rings:
        member = rings[0]["members"][0]
        assert {r["ring_id"] for r in exported(db, "rings", "--user", member)} == \
            {r["ring_id"] for r in rings if member in r["members"]}
        ring = rings[0]["ring_id"]
        assert {r["user_id"] for r in exported(db, "events", "--ring", ring)} <= \
            set(rings[0]["members"])


def test_a_wrong_filter_is_one_line(db: Path) -> None:
    for args, says in ((("--ip", "300.1.1.1"), "not an IP address"),
                       (("--since", "last week"), "not a time"),
                       (("--ring", "R-nope"), "no ring 'R-nope'")):
        done = ottwatch("export", "--db", str(db), "--what", "events", *args)
        assert done.returncode == 2 and says in done.stderr, done.stderr


def test_explain_takes_the_same_filters_instead_of_an_event(db: Path) -> None:
    done = ottwatch("explain", "--db", str(db), "--code", "geo.anonymizer", "--limit", "3",
                    "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    expected = sorted(sql(db, "SELECT a.event_id FROM assessments a, json_each(a.reasons) r "
                              "WHERE json_extract(r.value, '$.code') = 'geo.anonymizer'"))
    assert len(found) == 3
    assert {f["event"]["event_id"] for f in found} <= set(expected)
    assert all(any(r["code"] == "geo.anonymizer" for r in f["assessment"]["reasons"])
               for f in found)
    done = ottwatch("explain", "--db", str(db))
    assert done.returncode == 2 and "name an EVENT_ID" in done.stderr
