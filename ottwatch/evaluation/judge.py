"""One scenario judged: its labels against its replay's results, and the sum of several."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ottwatch.evaluation.incidents import (
    KindScore,
    RingScore,
    TimerScore,
    incident_scores,
    ring_scores,
    timer_scores,
)
from ottwatch.evaluation.labels import ScenarioLabels
from ottwatch.evaluation.metrics import CodeScore, Share, code_scores, severe_share
from ottwatch.evaluation.results import Results


@dataclass
class Judgement:
    name: str
    kind: str  # "realistic", "generic" or "total"
    events: int  # events the labels speak of
    codes: dict[str, CodeScore]
    benign: Share | None
    travellers: Share | None
    look_alikes: dict[str, Share]
    incidents: dict[str, KindScore]
    timers: TimerScore
    rings: RingScore
    quarantine: Counter[str] = field(default_factory=Counter)
    bad_lines: int | None = None  # malformed lines the log holds, when known
    seed: int | None = None
    log: str | None = None


def judge(labels: ScenarioLabels, results: Results) -> Judgement:
    return Judgement(
        name=labels.name, kind=labels.kind, events=len(labels.events),
        codes={s.code: s for s in code_scores(labels, results)},
        benign=severe_share(labels.benign, results),
        travellers=severe_share(labels.travellers, results),
        look_alikes={kind: Share(len(events & results.severe), len(events))
                     for kind, events in sorted(labels.look_alikes.items())},
        incidents={s.kind: s for s in incident_scores(labels.targets, results.alerts,
                                                      results.rings)},
        timers=timer_scores(labels.requests, results.alerts, labels.end_ts),
        rings=ring_scores(labels.farms, results.rings),
        quarantine=Counter(results.quarantine), bad_lines=labels.bad_lines)


def _add_shares(a: Share | None, b: Share | None) -> Share | None:
    if a is None or b is None:
        return a or b
    return a.add(b)


def total(judgements: list[Judgement]) -> Judgement:
    """Every count summed over the scenarios (rates are recomputed from the sums); ids
    in the lists are prefixed with their scenario's name."""
    codes: dict[str, CodeScore] = {}
    incidents: dict[str, KindScore] = {}
    benign = travellers = None
    look_alikes: dict[str, Share] = {}
    overdue, on_time = Share(0, 0), 0
    called: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    farms = found = rings = unmatched = 0
    best: tuple[float, ...] = ()
    quarantine: Counter[str] = Counter()
    bad: int | None = None
    for j in judgements:
        for code, score in j.codes.items():
            codes[code] = codes[code].add(score) if code in codes else score
        for kind, score in j.incidents.items():
            gone = tuple(f"{j.name}: {m}" for m in score.missed)
            if kind in incidents:
                mine = incidents[kind]
                incidents[kind] = KindScore(kind, mine.share.add(score.share), mine.missed + gone)
            else:
                incidents[kind] = KindScore(kind, score.share, gone)
        benign = _add_shares(benign, j.benign)
        travellers = _add_shares(travellers, j.travellers)
        for kind, share in j.look_alikes.items():
            look_alikes[kind] = look_alikes[kind].add(share) if kind in look_alikes else share
        t = j.timers
        overdue = overdue.add(t.overdue)
        on_time += t.on_time
        called += tuple(f"{j.name}: {r}" for r in t.on_time_called_overdue)
        missed += tuple(f"{j.name}: {r}" for r in t.missed)
        r = j.rings
        farms, found, rings, unmatched = (farms + r.farms, found + r.found, rings + r.rings,
                                          unmatched + r.unmatched_rings)
        best += r.best_jaccard
        quarantine += j.quarantine
        if j.bad_lines is not None:
            bad = (bad or 0) + j.bad_lines
    return Judgement(
        name="total", kind="total", events=sum(j.events for j in judgements), codes=codes,
        benign=benign, travellers=travellers, look_alikes=dict(sorted(look_alikes.items())),
        incidents=dict(sorted(incidents.items())),
        timers=TimerScore(overdue, on_time, called, missed),
        rings=RingScore(farms, found, best, rings, unmatched), quarantine=quarantine,
        bad_lines=bad)
