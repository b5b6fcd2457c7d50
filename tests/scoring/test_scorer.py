from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError
from scoring_helpers import DAY, NOON, Filled, assessment_for, make_event

from ottwatch.events import Event
from ottwatch.learning.thresholds import outcome_counts, relearn
from ottwatch.pipeline import Assessment, Batch, Pipeline
from ottwatch.scoring import (
    AdaptiveScorer,
    ScoringSettings,
    ThresholdState,
    noisy_or,
    shrunk_deltas,
)
from ottwatch.stages.segments import SegmentStage

NIGHT = NOON - 9 * 3600  # 03:00 UTC


def score_one(scorer: AdaptiveScorer, reasons: list[tuple[str, float]], *, ts: float = NOON,
              region: str | None = None, segment: str | None = None) -> Assessment:
    batch = Batch(events=[make_event("e1", ts=ts, region=region)], now=ts)
    for code, weight in reasons:
        batch.add(0, code, weight, f"{code} detail")
    if segment is not None:
        batch.columns["segment"] = [segment]
    (assessment,) = scorer.score(batch)
    return assessment


def test_noisy_or_combines_weak_reasons_and_never_exceeds_100() -> None:
    assert noisy_or([]) == 0
    assert noisy_or([40]) == pytest.approx(40)
    assert noisy_or([50, 50]) == pytest.approx(75)
    assert noisy_or([30, 30, 30]) == pytest.approx(100 * (1 - 0.7**3))
    assert noisy_or([100, 10]) == 100
    assert noisy_or([20] * 60) < 100
    assert noisy_or([150, -20]) == 100
    assert noisy_or([-20]) == 0
    assert noisy_or([float("nan")]) == 0


def test_assessment_carries_score_level_decision_threshold_and_sorted_reasons() -> None:
    scorer = AdaptiveScorer()
    a = score_one(scorer, [("geo.anonymizer", 30), ("auth.failure_burst", 30)])
    assert a.score == 51.0 and a.threshold == 50.0
    assert (a.level, a.decision) == ("medium", "review")
    assert [r.code for r in a.reasons] == ["geo.anonymizer", "auth.failure_burst"]
    nothing = score_one(scorer, [])
    assert (nothing.score, nothing.level, nothing.decision) == (0.0, "low", "allow")


@pytest.mark.parametrize(("score", "level", "decision"), [
    (49.99, "low", "allow"), (50, "medium", "review"), (64.99, "medium", "review"),
    (65, "high", "review"), (79.99, "high", "review"), (80, "critical", "block"),
    (100, "critical", "block"),
])
def test_levels_and_decisions_at_the_cut_points(score: float, level: str, decision: str) -> None:
    a = score_one(AdaptiveScorer(), [("x", score)])
    assert (a.level, a.decision) == (level, decision)


def test_weight_overrides_replace_the_stage_weight() -> None:
    scorer = AdaptiveScorer(ScoringSettings(weights={"geo.anonymizer": 90}))
    a = score_one(scorer, [("geo.anonymizer", 20), ("velocity.access_spike", 10)])
    assert a.score == 91.0 and a.decision == "block"
    assert [(r.code, r.weight) for r in a.reasons] == [("geo.anonymizer", 90),
                                                       ("velocity.access_spike", 10)]
    assert a.reasons[0].detail == "geo.anonymizer detail"


def test_night_hours_are_stricter() -> None:
    scorer = AdaptiveScorer()
    assert scorer.thresholds(NIGHT, None, None) == (40.0, 70.0)
    assert scorer.thresholds(NOON, None, None) == (50.0, 80.0)
    assert scorer.thresholds(NOON - 6 * 3600, None, None) == (50.0, 80.0)  # 06:00 is day
    a = score_one(scorer, [("x", 45)], ts=NIGHT)
    assert a.threshold == 40 and a.decision == "review"
    assert score_one(scorer, [("x", 45)]).decision == "allow"


def test_night_window_may_wrap_midnight() -> None:
    settings = ScoringSettings(night_start_hour=22, night_end_hour=5, night_delta=-5)
    assert [h for h in range(24) if settings.is_night(h)] == [0, 1, 2, 3, 4, 22, 23]
    assert ScoringSettings(night_start_hour=3, night_end_hour=3).is_night(3) is False


@pytest.mark.parametrize(("segment", "review"), [
    ("suspicious", 35.0), ("new", 45.0), ("power", 60.0), ("normal", 50.0), (None, 50.0)])
def test_segment_adjustments(segment: str | None, review: float) -> None:
    assert score_one(AdaptiveScorer(), [("x", 10)], segment=segment).threshold == review


def test_thresholds_are_clamped_and_block_is_capped_at_100() -> None:
    low = AdaptiveScorer(ScoringSettings(base_threshold=25))
    assert low.thresholds(NIGHT, None, "suspicious") == (20.0, 50.0)
    high = AdaptiveScorer(ScoringSettings(base_threshold=75))
    assert high.thresholds(NOON, None, "power") == (80.0, 100.0)
    wide = AdaptiveScorer(ScoringSettings(base_threshold=75, max_threshold=95, block_gap=40))
    assert wide.thresholds(NOON, None, "power") == (85.0, 100.0)


def test_settings_validate_and_ignore_other_tables() -> None:
    with pytest.raises(ValidationError, match="min_threshold"):
        ScoringSettings(min_threshold=70, max_threshold=60)
    with pytest.raises(ValidationError, match="weights.x"):
        ScoringSettings(weights={"x": 120})
    with pytest.raises(ValidationError):
        ScoringSettings(night_start_hour=25)
    parsed = ScoringSettings.from_scoring({"base_threshold": 45, "segments": {"max_users": 5},
                                           "roi": {"currency": "USD"}})
    assert parsed.base_threshold == 45


def outcomes(region_counts: dict[str, tuple[int, int]]) -> dict[tuple[str, str, bool], int]:
    """region -> (violations, total), all in the `normal` segment."""
    out = {}
    for region, (violations, total) in region_counts.items():
        out[(region, "normal", True)] = violations
        out[(region, "normal", False)] = total - violations
    return out


def test_learning_lowers_the_threshold_of_a_region_with_many_violations() -> None:
    scorer = AdaptiveScorer()
    before = scorer.thresholds(NOON, "XX", None)[0]
    state = scorer.learn(outcomes({"XX": (300, 1000), "DE": (100, 10_000),
                                   "FR": (50, 5_000), "TINY": (3, 6)}), now=NOON)
    assert scorer.dirty
    assert state.samples == 16_006 and state.violations == 453
    assert state.global_rate == pytest.approx(453 / 16_006)
    xx = scorer.thresholds(NOON, "XX", None)[0]
    de = scorer.thresholds(NOON, "DE", None)[0]
    tiny = scorer.thresholds(NOON, "TINY", None)[0]
    assert xx == before - 15  # rate ~10x the global one: the full delta
    assert de > before  # below the global rate: a little more lenient
    assert before - 15 < tiny < before  # 50% of 6 events, shrunk towards the global rate
    assert scorer.thresholds(NOON, "ZZ", None)[0] == before  # never seen: no change
    assert score_one(scorer, [("x", 40)], region="XX").decision == "review"
    assert score_one(scorer, [("x", 40)], region="DE").decision == "allow"


def test_learning_adjusts_segments_on_top_of_the_configured_deltas() -> None:
    scorer = AdaptiveScorer()
    scorer.learn({("DE", "new", True): 400, ("DE", "new", False): 600,
                  ("DE", "normal", True): 10, ("DE", "normal", False): 9_000})
    assert scorer.state.segment_deltas["new"] == -15.0
    assert scorer.thresholds(NOON, None, "new")[0] == 50 - 5 - 15
    off = AdaptiveScorer(ScoringSettings(learn_segments=False))
    off.learn({("DE", "new", True): 400, ("DE", "new", False): 600})
    assert off.state.segment_deltas == {}


def test_shrinkage_moves_small_groups_less() -> None:
    deltas = shrunk_deltas({"big": (500, 1000), "small": (5, 10), "calm": (0, 5000)},
                           global_rate=0.05, prior=200, max_delta=15)
    assert deltas["big"] == -15.0
    assert -15.0 < deltas["small"] < -5.0
    assert 0 < deltas["calm"] <= 15.0
    assert shrunk_deltas({"a": (1, 2)}, global_rate=0.0, prior=200, max_delta=15) == {}


def test_learning_from_nothing_keeps_the_base_thresholds() -> None:
    scorer = AdaptiveScorer()
    scorer.learn({})
    assert scorer.state.global_rate is None
    assert scorer.thresholds(NOON, "XX", "normal") == (50.0, 80.0)


def test_threshold_state_snapshot_restore_round_trip() -> None:
    scorer = AdaptiveScorer()
    scorer.learn(outcomes({"XX": (300, 1000), "DE": (100, 10_000)}), now=1234.5)
    copy = AdaptiveScorer()
    copy.restore(scorer.snapshot())
    assert copy.state == scorer.state and not copy.dirty
    for region in ("XX", "DE", None):
        for segment in ("new", "power", None):
            assert copy.thresholds(NIGHT, region, segment) == \
                scorer.thresholds(NIGHT, region, segment)
    with pytest.raises(ValueError, match="version"):
        copy.restore(b'{"v": 7}')
    assert ThresholdState.from_bytes(ThresholdState().to_bytes()) == ThresholdState()


def test_scorer_reads_segments_from_the_segment_stage() -> None:
    pipeline = Pipeline([SegmentStage()], AdaptiveScorer())
    events = [make_event(f"e{i}", ts=NOON + i) for i in range(5)]
    batch = Batch(events=events, now=NOON)
    for i in range(5):
        batch.add(i, "earlier.detector", 60, "high weight")
    for stage in pipeline.stages:
        stage.process(batch)
    assessments = pipeline.scorer.score(batch)
    assert batch.columns["segment"] == ["new"] * 4 + ["suspicious"]
    assert [a.threshold for a in assessments] == [45.0] * 4 + [35.0]


def stored(filled: Filled, event: Event, decision: str, segment: str = "normal") -> None:
    filled.write([event], [assessment_for(event, [("x", 60, "detail")], decision=decision)],
                  {"user_state": [{"user_id": event.user_id, "segment": segment,
                                   "first_seen": event.ts, "last_seen": event.ts,
                                   "events_30d": 1, "violations_30d": 0, "consent": None,
                                   "state": None}]})


def test_outcome_counts_from_the_database(filled_db: Callable[[], Filled]) -> None:
    db = filled_db()
    stored(db, make_event("blocked", "a", NOON, region="XX"), "block", "new")
    stored(db, make_event("blocked-benign", "b", NOON + 1, region="XX"), "block")
    stored(db, make_event("allowed-violation", "c", NOON + 2, region="DE"), "allow")
    stored(db, make_event("relabelled", "d", NOON + 3, region="DE"), "review")
    stored(db, make_event("plain", "e", NOON + 4, region=None), "allow")
    stored(db, make_event("too-old", "f", NOON - 100 * DAY, region="DE"), "block")
    db.label("blocked-benign", "benign")
    db.label("allowed-violation", "violation")
    db.label("relabelled", "violation")
    db.label("relabelled", "benign")  # the latest label wins
    counts = outcome_counts(db.engine, since=NOON - 90 * DAY)
    assert counts == {("XX", "new", True): 1, ("XX", "normal", False): 1,
                      ("DE", "normal", True): 1, ("DE", "normal", False): 1,
                      (None, "normal", False): 1}
    assert outcome_counts(db.engine, since=NOON - 90 * DAY, until=NOON + 2) == {
        ("XX", "new", True): 1, ("XX", "normal", False): 1}


def test_relearn_lowers_the_threshold_of_the_violating_region(
        filled_db: Callable[[], Filled]) -> None:
    db = filled_db()
    events, assessments = [], []
    for i in range(400):
        region = "XX" if i < 100 else "DE"
        event = make_event(f"e{i}", f"u{i}", NOON + i, region=region)
        decision = "block" if (region == "XX" and i % 2 == 0) or i % 50 == 0 else "allow"
        events.append(event)
        assessments.append(assessment_for(event, [("x", 60, "detail")], decision=decision))
    db.write(events, assessments)
    scorer = AdaptiveScorer()
    state = relearn(db.engine, scorer, now=NOON + DAY)
    assert state.samples == 400 and state.learned_at == NOON + DAY
    assert scorer.dirty
    assert scorer.thresholds(NOON, "XX", None)[0] < 50 < scorer.thresholds(NOON, "DE", None)[0]
