"""`ottwatch replay` for an investigator, run as the real command on a realistic log:
a window warmed with the whole history scores every event exactly as the full replay
did and stores only the window (edges included); a short warm-up is said; filters
store only what they name; the file is bisected, a gzip stream skipped by chunks,
with the same result; the shipped corpus meets its expectations and a change that
breaks one fails with JUnit XML."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO

CORPUS = REPO / "fixtures" / "corpus"
DAY = 86_400.0


def ottwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def rows(db: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, args).fetchall()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("forensics") / "events.jsonl"
    done = ottwatch("fixtures", "generate", "--users", "400", "--days", "20", "--seed", "9",
                    str(path))
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def full(log: Path) -> Path:
    db = log.parent / "full.db"
    done = ottwatch("replay", "-q", "--config", str(CORPUS / "ottwatch.toml"), "--db", str(db),
                    str(log))
    assert done.returncode == 0, done.stderr
    return db


def window_of(full: Path) -> tuple[float, float]:
    """Day 12 of the log, its edges on events (one at the start, one at the end)."""
    [(first,)] = rows(full, "SELECT MIN(ts) FROM events")
    ts = [t for (t,) in rows(full, "SELECT ts FROM events WHERE ts >= ? ORDER BY ts",
                             first + 12 * DAY)]
    since = ts[0]
    until = next(t for t in ts if t >= since + DAY)
    return since, until


def assessed(db: Path, since: float = -1e18, until: float = 1e18) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in rows(db, "SELECT event_id, score, level, reasons FROM "
                                          "assessments WHERE ts >= ? AND ts < ?", since, until)}


def test_a_window_warmed_with_all_history_scores_as_the_full_replay(log: Path, full: Path
                                                                    ) -> None:
    since, until = window_of(full)
    db = log.parent / "window.db"
    done = ottwatch("replay", "--config", str(CORPUS / "ottwatch.toml"), "--db", str(db),
                    str(log), "--since", stamp(since), "--until", stamp(until), "--warm", "30d")
    assert done.returncode == 0, done.stderr
    window = assessed(db)
    assert window == assessed(full, since, until) and len(window) > 500
    [(low, high)] = rows(db, "SELECT MIN(ts), MAX(ts) FROM events")
    assert low == since and high < until  # the start is in, the end is not
    assert rows(db, "SELECT COUNT(*) FROM events") == [(len(window),)]
    # Alerts: every one opened in the window, and only ones alive in it; an alert's final
    # row does not say whether it was updated in the window, so the bounds are these.
    stored_alerts = dict(rows(db, "SELECT alert_id, created_at FROM alerts"))
    opened = dict(rows(full, "SELECT alert_id, created_at FROM alerts WHERE created_at >= ? "
                             "AND created_at < ?", since, until))
    alive = dict(rows(full, "SELECT alert_id, created_at FROM alerts WHERE created_at < ? "
                            "AND updated_at >= ?", until, since))
    assert opened.items() <= stored_alerts.items() <= alive.items() and opened
    assert "warm-up:  from" in done.stdout and "not stored" in done.stdout


def test_a_short_warm_up_is_said_and_skips_the_file_before_it(log: Path, full: Path) -> None:
    since, until = window_of(full)
    db = log.parent / "short.db"
    done = ottwatch("replay", "--config", str(CORPUS / "ottwatch.toml"), "--db", str(db),
                    str(log), "--since", stamp(since), "--until", stamp(until), "--warm", "1d")
    assert done.returncode == 0, done.stderr
    assert f"warm-up:  from {stamp(since - DAY)[:10]}" in done.stdout
    assert "bytes before the warm-up, not read" in done.stdout
    stored = assessed(db)
    assert set(stored) == set(assessed(full, since, until))  # the same events, scored anew

    # A gzip stream cannot be bisected: it is read, and chunks before the warm-up are not
    # scored; the same events are stored with the same scores.
    packed = log.parent / "events.jsonl.gz"
    with open(log, "rb") as plain, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(plain, out)
    db_gz = log.parent / "short-gz.db"
    done = ottwatch("replay", "-q", "--config", str(CORPUS / "ottwatch.toml"), "--db",
                    str(db_gz), str(packed), "--since", stamp(since), "--until", stamp(until),
                    "--warm", "1d")
    assert done.returncode == 0, done.stderr
    assert assessed(db_gz) == stored


def test_filters_store_only_what_they_name(log: Path, full: Path) -> None:
    [(user, ip)] = rows(full, "SELECT user_id, ip_address FROM events WHERE ip_address LIKE "
                              "'%.%' GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT 1")
    network = ".".join(str(ip).split(".")[:3]) + ".0/24"
    cases = {
        ("--user", str(user)): rows(full, "SELECT event_id FROM events WHERE user_id = ?",
                                    user),
        ("--ip", network): rows(full, "SELECT event_id FROM events WHERE ip_address LIKE ?",
                                network.rsplit(".", 1)[0] + ".%"),
        ("--level", "high", "--level", "critical"): rows(
            full, "SELECT event_id FROM assessments WHERE level IN ('high', 'critical')"),
    }
    for args, found in cases.items():
        db = log.parent / f"filter-{args[0][2:]}.db"
        done = ottwatch("replay", "-q", "--config", str(CORPUS / "ottwatch.toml"), "--db",
                        str(db), str(log), *args)
        assert done.returncode == 0, done.stderr
        expected = {e for (e,) in found}
        stored = {e for (e,) in rows(db, "SELECT event_id FROM events")}
        assert stored == expected and stored, args
        assert assessed(db) == {k: v for k, v in assessed(full).items() if k in expected}


def test_the_shipped_corpus_meets_its_expectations_and_a_broken_detector_fails(
        tmp_path: Path) -> None:
    result = tmp_path / "result.xml"
    done = ottwatch("replay", "-q", "--config", str(CORPUS / "ottwatch.toml"), "--db",
                    str(tmp_path / "ok.db"), str(CORPUS / "incidents.jsonl"), "--expect",
                    str(CORPUS / "incidents.expect.toml"), "--result", str(result))
    assert done.returncode == 0, done.stderr
    suite = ET.parse(result).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests")) >= 20

    broken = tmp_path / "broken.toml"  # a speed bar no flight reaches: travel goes quiet
    broken.write_text((CORPUS / "ottwatch.toml").read_text(encoding="utf-8").replace(
        "../", f"{CORPUS.parent}/") + "max_speed_kmh = 100000\n", encoding="utf-8")
    done = ottwatch("replay", "-q", "--config", str(broken), "--db", str(tmp_path / "b.db"),
                    str(CORPUS / "incidents.jsonl"), "--expect",
                    str(CORPUS / "incidents.expect.toml"), "--result", str(result))
    assert done.returncode == 1, done.stderr
    assert "FAIL code geo.impossible_travel: 1 (expected exactly 2)" in done.stderr
    failures = [case.get("name") for case in ET.parse(result).getroot().iter("testcase")
                if case.find("failure") is not None]
    assert "code geo.impossible_travel" in failures
    assert any(name.endswith("fires geo.impossible_travel") for name in failures)


def test_stats_count_what_the_database_holds(tmp_path: Path) -> None:
    import json

    out = tmp_path / "stats.json"
    done = ottwatch("replay", "--config", str(CORPUS / "ottwatch.toml"), "--db",
                    str(tmp_path / "s.db"), str(CORPUS / "incidents.jsonl"), "--stats",
                    "--stats-json", str(out))
    assert done.returncode == 0, done.stderr
    assert "rule hits" in done.stdout
    stats = {row["code"]: row for row in json.loads(out.read_text())}
    for code, row in stats.items():
        [(events, users)] = rows(tmp_path / "s.db", """
            SELECT COUNT(DISTINCT a.event_id), COUNT(DISTINCT a.user_id)
            FROM assessments a, json_each(a.reasons) r
            WHERE json_extract(r.value, '$.code') = ?""", code)
        assert (row["events"], row["users"]) == (events, users), code
        [(alerts,)] = rows(tmp_path / "s.db", "SELECT COUNT(*) FROM alerts a, json_each(a.codes)"
                                              " c WHERE c.value = ?", code)
        assert row["alerts"] == alerts, code
