"""Incident and models reports on a replayed database, in every format: the HTML is one
file that a spec-following parser (html5lib) reads into the expected sections, with
no script and every value from events escaped; the Markdown shows hostile strings
literally; who acknowledged an alert is in the report."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import html5lib
import pytest
from markdown_it import MarkdownIt

from ottwatch.reports.incident import build_incident
from ottwatch.reports.render import render
from tests.conftest import REPO

NS = {"h": "http://www.w3.org/1999/xhtml"}


def ottwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def high_alert(db: Path) -> tuple[str, str]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT alert_id, user_id FROM alerts WHERE user_id IN (SELECT user_id FROM "
            "assessments WHERE level IN ('high', 'critical')) ORDER BY id LIMIT 1").fetchone()


def test_a_users_incident_report_holds_its_events_alerts_and_acks(replayed: Path,
                                                                  tmp_path: Path) -> None:
    alert_id, user = high_alert(replayed)
    db = tmp_path / "copy.db"
    db.write_bytes(replayed.read_bytes())
    acked = ottwatch("alerts", "ack", alert_id, "--db", str(db))
    assert acked.returncode == 0, acked.stderr
    done = ottwatch("report", "incident", "--user", user, "--db", str(db), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events WHERE user_id = ?", (user,)).fetchone()
        high = conn.execute("SELECT COUNT(*) FROM assessments WHERE user_id = ? AND level IN "
                            "('high', 'critical')", (user,)).fetchone()
    assert len(report["timeline"]) == events[0]
    assert {e["user_id"] for e in report["timeline"]} == {user}
    assert len(report["evidence"]) == high[0] >= 1
    [alert] = [a for a in report["alerts"] if a["alert_id"] == alert_id]
    assert [ack["action"] for ack in alert["acks"]] == ["alert.ack"] and alert["acks"][0]["actor"]
    timestamps = [e["ts"] for e in report["timeline"]]
    assert timestamps == sorted(timestamps)


def test_the_html_is_one_self_contained_page_with_its_sections(replayed: Path,
                                                               tmp_path: Path) -> None:
    _, user = high_alert(replayed)
    out = tmp_path / "incident.html"
    done = ottwatch("report", "incident", "--user", user, "--db", str(replayed), "--format",
                    "html", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    document = html5lib.parse(out.read_text(encoding="utf-8"), namespaceHTMLElements=True)
    headings = [h.text for h in document.iterfind(".//h:h2", NS)]
    assert headings[:2] == ["Summary", "Levels over time"]
    assert {"Reasons", "Linked accounts", "Alerts", "Timeline", "Evidence"} <= set(headings)
    assert document.find(".//h:svg", {"h": "http://www.w3.org/2000/svg"}) is not None or \
        document.find(".//{http://www.w3.org/2000/svg}svg") is not None
    assert not list(document.iterfind(".//h:script", NS))
    assert not [e for e in document.iter() if e.get("src") or e.get("href")]  # nothing fetched


HOSTILE = "<script>alert(1)</script> | **bold** [x](http://evil)"


def test_strings_from_events_are_shown_literally_in_html_and_markdown() -> None:
    event = {"ts": 1_790_000_000.0, "timestamp": "2026-09-21T12:53:20Z", "event_id": HOSTILE,
             "user_id": HOSTILE, "event_type": "login", "ip_address": "203.0.113.7",
             "region": "DE", "level": "critical", "score": 90.0,
             "reasons": [{"code": "input.attack_pattern", "weight": 40, "detail": HOSTILE}]}
    report = build_incident(f"user {HOSTILE}", [event], [], [], {HOSTILE: 3},
                            since=1_789_990_000.0, until=1_790_010_000.0, limit=100)
    page = render(report, "html", written=1_790_010_000.0)
    document = html5lib.parse(page, namespaceHTMLElements=True)
    assert not list(document.iterfind(".//h:script", NS))
    assert not list(document.iterfind(".//h:a", NS))
    assert HOSTILE in "".join(document.find(".//h:h1", NS).itertext())
    # Rendered by a CommonMark renderer with tables (markdown-it, as GitHub-like viewers
    # do): no link, no emphasis, no raw HTML, and the cell's pipe did not split the row.
    html = MarkdownIt("commonmark").enable("table").render(
        render(report, "md", written=1_790_010_000.0))
    rendered = html5lib.parse(html, namespaceHTMLElements=True)
    for tag in ("a", "strong", "script"):
        assert not list(rendered.iterfind(f".//h:{tag}", NS)), tag
    tables = list(rendered.iterfind(".//h:table", NS))
    assert len(tables) >= 5
    for table in tables:
        width = len(table.findall("h:thead/h:tr/h:th", NS))
        assert all(len(row.findall("h:td", NS)) == width
                   for row in table.iterfind("h:tbody/h:tr", NS))
    assert HOSTILE in "".join(rendered.find(".//h:h1", NS).itertext())
    cells = ["".join(td.itertext()) for td in rendered.iterfind(".//h:td", NS)]
    assert cells.count(HOSTILE) >= 3  # whole in one cell each: linked account, user, id


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_models_and_compliance_in_every_format(replayed: Path, fmt: str) -> None:
    for kind in ("models", "compliance"):
        done = ottwatch("report", kind, "--db", str(replayed), "--since", "2020-01-01",
                        "--format", fmt)
        assert done.returncode == 0, done.stderr
        if fmt == "json":
            assert json.loads(done.stdout)["report"] == kind
        elif fmt == "html":
            assert html5lib.parse(done.stdout).find(".//{http://www.w3.org/1999/xhtml}h1") \
                is not None
        else:
            assert done.stdout.startswith(f"# {kind.capitalize()} report")


def test_a_subject_is_required_and_an_unknown_ring_is_one_line(replayed: Path) -> None:
    for args, says in ((("incident",), "name one subject"),
                       (("incident", "--ring", "r-nope"), "no ring 'r-nope'"),
                       (("incident", "--user", "u", "--since", "yesterday"), "not a time")):
        done = ottwatch("report", *args, "--db", str(replayed))
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert len(done.stderr.splitlines()) == 1
