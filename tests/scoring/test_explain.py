from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from scoring_helpers import NOON, Filled, assessment_for, make_event

from ottwatch.commands.explain import command as explain

MARKUP_USER = "[red]x[/red]"
WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture
def db(filled_db: Callable[[], Filled]) -> Filled:
    filled = filled_db()
    marked = make_event("ev-1", MARKUP_USER, NOON, region="DE", device_id="[bold]dev[/bold]",
                        ip_address="203.0.113.9", has_consent=False,
                        extra_metadata={"note": "[blink]meta[/blink]"})
    plain = make_event("ev-2", "bob", NOON + 1)
    scored = assessment_for(marked, [
        ("geo.anonymizer", 45.0, "Tor exit :smile: [link=http://evil]click[/link]"),
        ("consent.missing", 30.0, "play with no consent under GDPR"),
    ], score=61.5, decision="review", level="medium", threshold=45.0)
    filled.write([marked, plain], [scored])
    filled.label("ev-1", "violation", note="[i]confirmed[/i]")
    return filled


def run(db: Filled, *args: str, config: Path | None = None) -> Result:
    if config is None:
        config = db.path.parent / "empty.toml"
        config.write_text("", encoding="utf-8")
    return CliRunner().invoke(explain, [*args, "--db", str(db.path), "--config", str(config)],
                              env=WIDE)


def test_explain_prints_event_assessment_and_reasons_as_plain_text(db: Filled) -> None:
    result = run(db, "ev-1")
    assert result.exit_code == 0, result.output
    out = result.output
    for literal in (MARKUP_USER, "[bold]dev[/bold]", '{"note":"[blink]meta[/blink]"}',
                    "Tor exit :smile: [link=http://evil]click[/link]", "[i]confirmed[/i]"):
        assert literal in out
    assert "score 61.5" in out and "level medium" in out and "decision review" in out
    assert "threshold 45" in out
    lines = out.splitlines()
    anonymizer = next(line for line in lines if "geo.anonymizer" in line)
    consent = next(line for line in lines if "consent.missing" in line)
    assert "45.0" in anonymizer and "30.0" in consent and "under GDPR" in consent
    assert lines.index(anonymizer) < lines.index(consent)
    assert "203.0.113.9" in out and "DE" in out
    assert "label violation by analyst" in out


def test_explain_json(db: Filled) -> None:
    result = run(db, "ev-1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["event"]["user_id"] == MARKUP_USER
    assert data["event"]["timestamp"] == "2026-11-02T12:00:00.000000Z"
    assert data["event"]["has_consent"] is False
    assessment = data["assessment"]
    assert (assessment["score"], assessment["level"], assessment["decision"],
            assessment["threshold"]) == (61.5, "medium", "review", 45.0)
    assert [(r["code"], r["weight"]) for r in assessment["reasons"]] == [
        ("geo.anonymizer", 45.0), ("consent.missing", 30.0)]
    assert [label["label"] for label in data["labels"]] == ["violation"]


def test_event_without_assessment(db: Filled) -> None:
    result = run(db, "ev-2")
    assert result.exit_code == 0, result.output
    assert "not assessed" in result.output
    assert json.loads(run(db, "ev-2", "--json").output)["assessment"] is None


def test_unknown_event_exits_1_with_a_clear_message(db: Filled) -> None:
    result = run(db, "no-such-event")
    assert result.exit_code == 1
    assert "no event with id 'no-such-event'" in result.output
    assert run(db, "no-such-event", "--json").exit_code == 1


def test_explain_reads_the_database_from_the_config(db: Filled) -> None:
    config = db.path.parent / "ottwatch.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{db.path}"\n', encoding="utf-8")
    result = CliRunner().invoke(explain, ["ev-1", "--config", str(config), "--json"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["event"]["event_id"] == "ev-1"
