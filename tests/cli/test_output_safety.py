"""Nothing from an event is code: the hostile corpus (fixtures/hostile_strings.py) is
replayed into a real database, then every command that prints event data runs as a
subprocess and its raw stdout bytes are checked: no ESC, no C1 control, no bidi or
zero-width character, Rich markup shown literally, CSV formulas defused, JSON exact."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.hostile_strings import CORPUS_PATH, HOSTILE, SHARED_DEVICE, USERS, render
from tests.conftest import REPO, agent_env

Run = Callable[..., bytes]
MARKUP = HOSTILE["rich_link"]
# the users whose events, alerts and segments are looked at one by one
PICKED = ("rich_link", "rich_style", "bidi_rlo", "bidi_isolates", "zero_width", "csv_equals",
          "line_separator", "nul", "long")
SGR = re.compile(rb"\x1b\[[0-9;]*m")
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def unsafe_chars(text: str) -> set[str]:
    """Characters a terminal acts on or reorders: controls (but line feeds), format
    characters (bidi, zero-width), surrogates, line and paragraph separators."""
    return {c for c in text if c != "\n"
            and unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"}}


def assert_inert(output: bytes, what: str) -> str:
    text = output.decode("utf-8")
    assert b"\x1b" not in output, f"{what}: raw ESC"
    assert not unsafe_chars(text), f"{what}: raw {sorted(map(hex, map(ord, unsafe_chars(text))))}"
    return text


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "empty.toml").write_text("")
    db = folder / "hostile.db"
    result = subprocess.run(
        [sys.executable, "-m", "ottwatch", "replay", "--db", str(db), str(CORPUS_PATH)],
        cwd=REPO, env=agent_env(config=folder / "empty.toml"), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return db


@pytest.fixture(scope="module")
def run(hostile_db: Path) -> Run:
    """`ottwatch ARGS... --db DB`: its stdout bytes. A wide terminal, so that no table
    cell is wrapped in the middle of a string the test looks for."""
    env = agent_env({"COLUMNS": "4000"}, config=hostile_db.with_name("empty.toml"))

    def ottwatch(*args: str, colour: bool = False) -> bytes:
        extra = {"FORCE_COLOR": "1", "TERM": "xterm-256color"} if colour else {"NO_COLOR": "1"}
        result = subprocess.run([sys.executable, "-m", "ottwatch", *args, "--db", str(hostile_db)],
                                cwd=REPO, env={**env, **extra}, capture_output=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, (args, result.stderr.decode(errors="replace")[-2000:])
        return result.stdout

    return ottwatch


def db_rows(db: Path, sql: str, *params: str) -> list[tuple[str, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def stored_user(label: str) -> str:
    """How the user id is stored: ingest drops C0/C1 controls (NUL, ESC), keeps the rest."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", "", USERS[list(HOSTILE).index(label)])


def test_the_corpus_file_is_the_rendered_corpus() -> None:
    assert CORPUS_PATH.read_bytes() == render()
    raw = CORPUS_PATH.read_text()
    assert "\\u202e" in raw and "\\u001b]8;;" in raw and "[link=" in raw


def test_the_replay_made_alerts_a_ring_and_reasons_from_the_hostile_strings(
        hostile_db: Path) -> None:
    titles = [t for (t,) in db_rows(hostile_db, "select title from alerts")]
    assert any(stored_user("bidi_rlo") in t for t in titles)
    assert any(MARKUP in t for t in titles)
    assert len(db_rows(hostile_db, "select ring_id from rings")) == 1
    assert db_rows(hostile_db, "select count(*) from quarantine") == [(1,)]


def test_alerts_list_shows_markup_literally_and_no_control(run: Run) -> None:
    text = assert_inert(run("alerts", "list", "--limit", "100"), "alerts list")
    assert MARKUP in text, "the title cell's markup was applied, not shown"
    assert "user\\u202egnp.exe" in text
    assert HOSTILE["rich_style"] in text


def test_alerts_list_in_colour_has_styles_only(run: Run) -> None:
    output = run("alerts", "list", "--limit", "100", colour=True)
    assert SGR.search(output), "FORCE_COLOR gives a styled table"
    assert b"\x1b]8;" not in output, "a live OSC 8 hyperlink"
    assert b"\x1b" not in SGR.sub(b"", output), "an escape sequence other than a style"
    assert MARKUP.encode() in output


def test_alerts_show_text_and_json(run: Run, hostile_db: Path) -> None:
    alerts = db_rows(hostile_db, "select alert_id, user_id from alerts where user_id is not null")
    picked = {stored_user(label) for label in PICKED}
    shown = [(a, u) for a, u in alerts if u in picked]
    assert len(shown) >= len(PICKED)
    for alert_id, user in shown:
        text = assert_inert(run("alerts", "show", alert_id), f"alerts show {alert_id}")
        assert alert_id in text
        record = json.loads(assert_inert(run("alerts", "show", alert_id, "--json"),
                                         f"alerts show --json {alert_id}"))
        assert record["user_id"] == user, "JSON keeps the exact data"


def test_alerts_list_json_keeps_exact_data_without_raw_bidi(run: Run) -> None:
    records = json.loads(assert_inert(run("alerts", "list", "--limit", "100", "--json"),
                                      "alerts list --json"))
    users = {r["user_id"] for r in records}
    assert {stored_user("bidi_rlo"), stored_user("zero_width"), MARKUP} <= users


def test_explain_every_picked_event(run: Run, hostile_db: Path) -> None:
    for label in PICKED:
        user = stored_user(label)
        ((event_id,),) = db_rows(hostile_db, "select event_id from events where user_id = ? "
                                 "and event_type = 'search'", user)
        text = assert_inert(run("explain", event_id), f"explain ({label})")
        assert "input.attack_pattern" in text
        if label == "rich_link":
            assert MARKUP in text
        found = json.loads(assert_inert(run("explain", event_id, "--json"), "explain --json"))
        assert found["event"]["user_id"] == user


def test_users_segment_and_segments(run: Run) -> None:
    for label in PICKED:
        user = stored_user(label)
        text = assert_inert(run("users", "segment", user), f"users segment ({label})")
        assert "segment" in text
        record = json.loads(assert_inert(run("users", "segment", user, "--json"),
                                         "users segment --json"))
        assert record["user_id"] == user
    assert_inert(run("users", "segments"), "users segments")


def test_rings_list_and_show(run: Run, hostile_db: Path) -> None:
    ((ring_id,),) = db_rows(hostile_db, "select ring_id from rings")
    assert_inert(run("rings"), "rings")
    assert_inert(run("rings", "--json"), "rings --json")
    text = assert_inert(run("rings", "show", ring_id), "rings show")
    assert MARKUP in text, "members and shared values shown literally"
    assert "\\u202e" in text
    record = json.loads(assert_inert(run("rings", "show", ring_id, "--json"), "rings --json"))
    stored_device = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", SHARED_DEVICE)
    assert stored_device in {s["value"] for s in record["shared"]}
    coloured = run("rings", "show", ring_id, colour=True)
    assert b"\x1b]8;" not in coloured and b"\x1b" not in SGR.sub(b"", coloured)


def test_predict_and_label_echo_event_data_inertly(run: Run, hostile_db: Path) -> None:
    user = stored_user("bidi_rlo")
    assert_inert(run("predict", user), "predict")
    ((event_id,),) = db_rows(hostile_db, "select event_id from events where user_id = ? "
                             "and event_type = 'search'", user)
    text = assert_inert(run("label", event_id, "--violation"), "label")
    assert "\\u202e" in text


@pytest.mark.parametrize("what", ["events", "assessments", "alerts", "rings", "quarantine"])
def test_csv_exports_defuse_formulas_and_controls(run: Run, what: str) -> None:
    text = assert_inert(run("export", "--what", what, "--format", "csv"), f"export {what} csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 1
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c.startswith(CSV_FORMULA_STARTS)]
    if what in ("events", "alerts"):
        for label in ("csv_equals", "csv_plus", "csv_minus", "csv_at", "csv_tab", "csv_cr"):
            assert "'" + stored_user(label) in cells, label


@pytest.mark.parametrize("what", ["events", "assessments", "alerts", "rings", "quarantine"])
def test_jsonl_exports_keep_exact_data(run: Run, hostile_db: Path, what: str) -> None:
    text = assert_inert(run("export", "--what", what), f"export {what} jsonl")
    records = [json.loads(line) for line in text.splitlines()]
    assert records
    if what == "events":
        stored = {u for (u,) in db_rows(hostile_db, "select user_id from events")}
        assert {r["user_id"] for r in records} == stored
        assert stored_user("bidi_rlo") in stored and stored_user("csv_equals") in stored


def test_silences_show_matchers_and_reasons_literally(run: Run) -> None:
    user = stored_user("bidi_rlo")
    said = assert_inert(run("alerts", "silence", "--user", user, "--for", "1h",
                            "--reason", MARKUP), "alerts silence")
    assert "user\\u202egnp.exe" in said
    text = assert_inert(run("alerts", "silences"), "alerts silences")
    assert MARKUP in text and "user\\u202egnp.exe" in text
