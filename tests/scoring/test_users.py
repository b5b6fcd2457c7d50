from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from scoring_helpers import DAY, NOON, Filled, make_event

from ottwatch.commands.users import command as users
from ottwatch.events import Event
from ottwatch.pipeline import Batch, Pipeline, Stage
from ottwatch.scoring import AdaptiveScorer
from ottwatch.stages.segments import SegmentStage

MARKUP_USER = "[red]x[/red]"


class Detector:
    """A stand-in for the detectors: a 70-weight reason on events of user `bad`."""

    name = "detector"

    def process(self, batch: Batch) -> None:
        for index, event in enumerate(batch.events):
            if event.user_id == "bad":
                batch.add(index, "test.violation", 70, "a confirmed pattern")


def events() -> list[Event]:
    out = [make_event("m1", MARKUP_USER, NOON - 40 * DAY, has_consent=True),
           make_event("m2", MARKUP_USER, NOON, has_consent=True)]
    out += [make_event(f"b{i}", "bad", NOON + i) for i in range(6)]
    out += [make_event(f"n{i}", f"new{i}", NOON + i, event_type="consent_withdrawn")
            for i in range(3)]
    return out


@pytest.fixture
def db(filled_db: Callable[[], Filled]) -> Filled:
    filled = filled_db()
    stages: list[Stage] = [Detector(), SegmentStage()]
    pipeline = Pipeline(stages, AdaptiveScorer())
    everything = events()
    for start in range(0, len(everything), 4):  # several batches, as the agent would
        chunk = everything[start:start + 4]
        batch = pipeline.run(chunk, max(e.ts for e in chunk))
        filled.write(batch.events, batch.assessments, batch.upserts)
    return filled


def run(db: Filled, *args: str) -> Result:
    config = db.path.parent / "empty.toml"
    config.write_text("", encoding="utf-8")
    return CliRunner().invoke(users, [*args, "--db", str(db.path), "--config", str(config)],
                              env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_user_segment_shows_the_stored_state(db: Filled) -> None:
    result = run(db, "segment", "bad")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "suspicious" in out
    assert "2026-11-02T12:00:00.000000Z" in out and "2026-11-02T12:00:05.000000Z" in out
    events_line = next(line for line in out.splitlines() if "events 30d" in line)
    violations_line = next(line for line in out.splitlines() if "violations 30d" in line)
    assert events_line.split()[-1] == "6" and violations_line.split()[-1] == "6"
    assert "unknown" in out  # no consent state reported


def test_user_segment_json_and_markup_in_ids(db: Filled) -> None:
    result = run(db, "segment", MARKUP_USER)
    assert result.exit_code == 0, result.output
    assert f"user {MARKUP_USER}" in result.output
    assert "inactive" in result.output and "given" in result.output
    data = json.loads(run(db, "segment", MARKUP_USER, "--json").stdout)
    assert data == {"user_id": MARKUP_USER, "segment": "inactive",
                    "first_seen": "2026-09-23T12:00:00.000000Z",
                    "last_seen": "2026-11-02T12:00:00.000000Z",
                    "events_30d": 1, "violations_30d": 0, "consent": True}
    assert json.loads(run(db, "segment", "new0", "--json").stdout)["consent"] is False


def test_unknown_user_exits_1(db: Filled) -> None:
    result = run(db, "segment", "nobody")
    assert result.exit_code == 1
    assert "no user 'nobody'" in result.output


def test_segments_counts_every_segment(db: Filled) -> None:
    data = json.loads(run(db, "segments", "--json").stdout)
    counts = {row["segment"]: row["users"] for row in data}
    assert counts == {"new": 3, "normal": 0, "power": 0, "inactive": 1, "dormant": 0,
                      "suspicious": 1}
    assert next(r["share"] for r in data if r["segment"] == "new") == 0.6
    table = run(db, "segments")
    assert table.exit_code == 0, table.output
    new_line = next(line for line in table.output.splitlines() if line.split("│")[1:2]
                    and line.split("│")[1].strip() == "new")
    assert "3" in new_line and "60.0%" in new_line
    assert "total" in table.output
