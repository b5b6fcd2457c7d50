"""Time bounds: an event too far ahead (of the wall clock, or in replay of the newest
accepted event time) is quarantined as `timestamp_in_future` and cannot drag the
clock, and with it every deadline, into the future."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.bad_corpus import dumps, event
from fixtures.generator import StreamGenerator
from ottwatch.clock import EventClock, FixedClock, WallClock
from ottwatch.events import Event, parse_line
from ottwatch.time_bounds import REASON, FutureBound, Verdict, future_bound

DAY = 86400.0
SKEW = DAY
T0 = float(int(time.time() - 200 * DAY))  # the replay rules bound by the wall clock too
OVERDUE = "SELECT COUNT(*) FROM alerts WHERE codes LIKE '%_overdue%'"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def line_at(ts: float, event_id: str) -> bytes:
    return dumps(event(event_id, timestamp=iso(ts)))


def parsed(ts: float, event_id: str) -> tuple[Event, bytes]:
    raw = line_at(ts, event_id)
    result = parse_line(raw)
    assert isinstance(result, Event), result
    return result, raw


def verdicts(bound: FutureBound, times: list[float]) -> dict[str, str | None]:
    """event_id -> the reason it was quarantined for (None: accepted), in verdict order."""
    out: list[Verdict] = []
    for n, ts in enumerate(times):
        out += bound.admit(*parsed(ts, f"e{n}"))
    out += bound.finish()
    return {e.event_id: (r.reason if r else None) for e, _, r in out}


# -- the rules, with injected clocks --------------------------------------------------

def test_live_the_wall_clock_plus_the_skew_is_the_bound() -> None:
    wall = FixedClock(T0)
    bound = future_bound(wall, skew_s=SKEW, confirm_lines=3)
    [(_, _, ok)] = bound.admit(*parsed(T0 + SKEW, "at-limit"))
    assert ok is None
    [(_, _, late)] = bound.admit(*parsed(T0 + SKEW + 1, "beyond"))
    assert late is not None and late.reason == REASON
    assert "wall clock" in late.detail and "max_future_skew_s = 86400" in late.detail
    wall.set(T0 + 1)  # time passes: the same timestamp is now within the bound
    [(_, _, ok)] = bound.admit(*parsed(T0 + SKEW + 1, "beyond-later"))
    assert ok is None


def test_live_a_backlog_after_downtime_is_not_held_against_the_present() -> None:
    """Live there is no stream rule: catching up from 10 days ago, then the present."""
    bound = future_bound(FixedClock(T0), skew_s=SKEW, confirm_lines=3)
    assert verdicts(bound, [T0 - 10 * DAY, T0 - 10 * DAY + 5, T0 - 60]) == {
        "e0": None, "e1": None, "e2": None}


def test_replay_bounds_by_the_wall_clock_at_the_start_of_the_run() -> None:
    bound = future_bound(EventClock(), skew_s=SKEW, confirm_lines=3)
    now = time.time()
    got = verdicts(bound, [253402300799.0, now - DAY, now + 2 * SKEW, now - DAY + 60])
    assert got == {"e0": REASON, "e2": REASON, "e1": None, "e3": None}


def test_replay_a_far_ahead_line_among_ordinary_ones_is_quarantined() -> None:
    bound = future_bound(EventClock(), skew_s=SKEW, confirm_lines=3)
    times = [T0, T0 + 10, T0 + 31 * DAY, T0 + 20, T0 + 30]
    assert verdicts(bound, times) == {"e0": None, "e1": None, "e2": REASON, "e3": None,
                                      "e4": None}
    assert bound.newest == T0 + 30


def test_replay_a_real_jump_is_accepted_once_the_lines_after_it_follow() -> None:
    bound = future_bound(EventClock(), skew_s=SKEW, confirm_lines=3)
    times = [T0, T0 + 10, T0 + 40 * DAY, T0 + 40 * DAY + 5, T0 + 40 * DAY + 9, T0 + 40 * DAY + 20]
    got = verdicts(bound, times)
    assert list(got) == [f"e{n}" for n in range(6)], "verdicts keep the input order"
    assert set(got.values()) == {None}
    assert bound.newest == T0 + 40 * DAY + 20


def test_replay_two_agreeing_outliers_are_not_yet_a_jump() -> None:
    bound = future_bound(EventClock(), skew_s=SKEW, confirm_lines=3)
    times = [T0, T0 + 31 * DAY, T0 + 31 * DAY + 1, T0 + 40]
    assert verdicts(bound, times) == {"e0": None, "e1": REASON, "e2": REASON, "e3": None}


def test_replay_lines_held_at_the_end_of_the_input_are_accepted() -> None:
    bound = future_bound(EventClock(), skew_s=SKEW, confirm_lines=3)
    assert verdicts(bound, [T0, T0 + 31 * DAY]) == {"e0": None, "e1": None}
    assert not bound.holding


def test_lines_behind_the_newest_are_always_accepted() -> None:
    bound = future_bound(EventClock(), skew_s=SKEW, confirm_lines=3)
    assert set(verdicts(bound, [T0, T0 - 300 * DAY, T0 + 5]).values()) == {None}


@pytest.mark.parametrize(("skew", "confirm"), [(0.0, 3), (SKEW, 1)])
def test_the_rules_can_be_turned_off(skew: float, confirm: int) -> None:
    """skew 0: no bound at all; one confirming line: no stream rule (the wall stays)."""
    bound = future_bound(EventClock(), skew_s=skew, confirm_lines=confirm)
    got = verdicts(bound, [T0, T0 + 31 * DAY, T0 + 5, time.time() + 2 * SKEW])
    assert got == {"e0": None, "e1": None, "e2": None,
                   "e3": None if skew == 0 else REASON}


def test_live_agents_use_their_own_clock_as_the_wall() -> None:
    wall = WallClock()
    assert future_bound(wall, skew_s=SKEW, confirm_lines=3).wall is wall


# -- through `ottwatch replay` --------------------------------------------------------

def ordinary_lines(start: float, n: int = 3000) -> list[bytes]:
    """Ordinary traffic at 2 events/s, with access and deletion requests that are still
    open at the end (so a clock pushed a month ahead makes them overdue)."""
    return list(StreamGenerator(seed=4, users=300, start=iso(start), rate_per_s=2.0).lines(n))


ReplayLines = Callable[..., Any]


@pytest.fixture
def replay(tmp_path: Path, ottwatch: Callable[..., subprocess.CompletedProcess[str]],
           open_db: Any) -> ReplayLines:
    """`replay(lines, name, config="")`: `ottwatch replay` of the lines into a new
    database, which it returns (read-only)."""
    def run(lines: list[bytes], name: str, config: str = "") -> Any:
        log, db, toml = (tmp_path / f"{name}.jsonl", tmp_path / f"{name}.db",
                         tmp_path / f"{name}.toml")
        log.write_bytes(b"\n".join(lines) + b"\n")
        toml.write_text(config, encoding="utf-8")
        done = ottwatch("replay", str(log), "--db", str(db), "--config", str(toml), "--quiet")
        assert done.returncode == 0, done.stderr[-2000:]
        return open_db(db)

    return run


def overdue(db: Any) -> int:
    return db.rows(OVERDUE)[0][0]


def test_a_year_9999_line_at_the_top_of_a_replay_is_quarantined_and_fires_nothing(
        replay: ReplayLines) -> None:
    lines = ordinary_lines(time.time() - 10 * DAY)
    poison = json.dumps({"event_id": "poison", "timestamp": "9999-12-31T23:59:59Z",
                         "user_id": "u-poison", "event_type": "login"}).encode()
    unbounded = replay([poison, *lines], "unbounded",
                       "[ingest]\nmax_future_skew_s = 0\n")
    assert overdue(unbounded) > 0, "without the bound this log raises false overdue alerts"

    db = replay([poison, *lines], "bounded")
    assert overdue(db) == 0
    [(_, offset, reason, detail, raw, _)] = db.quarantine()
    assert (offset, reason, raw) == (0, REASON, poison)
    assert "9999-12-31T23:59:59.000000Z" in detail and "wall clock" in detail
    assert db.count() == len(lines)


def test_a_far_ahead_line_in_the_middle_of_a_replay_is_quarantined(
        replay: ReplayLines) -> None:
    start = time.time() - 60 * DAY  # a month ahead of the log is still in the past
    lines = ordinary_lines(start)
    ahead = line_at(start + 31 * DAY, "ahead")
    db = replay([*lines[:1500], ahead, *lines[1500:]], "middle")
    assert overdue(db) == 0
    [(_, offset, reason, detail, raw, _)] = db.quarantine()
    assert (offset, reason, raw) == (sum(len(line) + 1 for line in lines[:1500]), REASON, ahead)
    assert "newest accepted event time" in detail
    assert db.count() == len(lines)


def test_a_replay_that_ends_a_month_later_keeps_its_last_line_and_its_deadlines(
        replay: ReplayLines) -> None:
    """A gap in the recording is not an outlier: the lines after it, and a last line held
    until the end of the input, are accepted and the overdue requests are reported."""
    start = time.time() - 90 * DAY
    before, after = ordinary_lines(start, 1500), ordinary_lines(start + 40 * DAY, 1500)
    after = [line.replace(b'"evt-', b'"late-') for line in after]
    last = line_at(start + 80 * DAY, "last")
    db = replay([*before, *after, last], "gap")
    assert db.quarantine() == []
    assert db.count() == len(before) + len(after) + 1
    assert overdue(db) > 0


def test_verdicts_do_not_depend_on_batch_boundaries(replay: ReplayLines) -> None:
    """Held lines wait across batches: batches of 7 lines give the default's verdicts."""
    start = time.time() - 100 * DAY
    before = ordinary_lines(start, 300)
    after = [line.replace(b'"evt-', b'"late-') for line in ordinary_lines(start + 40 * DAY, 100)]
    lines = [*before[:50], line_at(253402300799.0, "year-9999"), *before[50:120],
             line_at(start + 31 * DAY, "ahead"), *before[120:200],
             line_at(start + 32 * DAY, "pair-1"), line_at(start + 32 * DAY + 1, "pair-2"),
             *before[200:], *after]
    quarantines, stored = [], []
    for name, config in (("default", ""), ("small", "[storage]\nbatch_size = 7\n")):
        db = replay(lines, name, config)
        quarantines.append([row[1:5] for row in db.quarantine()])
        stored.append(sorted(db.event_ids()))
    assert [(offset, reason) for offset, reason, _, _ in quarantines[0]] == [
        (sum(len(line) + 1 for line in lines[:index]), REASON) for index in (50, 121, 202, 203)]
    assert quarantines[0] == quarantines[1]
    assert stored[0] == stored[1] and len(stored[0]) == len(before) + len(after)
