"""The floors `ottwatch eval --check` holds (issue 14): every judged code's recall and
precision, benign and travellers' events at high or critical, the share of incidents
alerted per kind, and the deadlines."""

from __future__ import annotations

from dataclasses import dataclass

from ottwatch.evaluation.judge import Judgement

MIN_RECALL = 0.95
MIN_PRECISION = 0.9
MAX_BENIGN_SEVERE = 0.002
MAX_TRAVELLERS_SEVERE = 0.01
MIN_ALERTED = 0.95
ALERTED_KINDS = (
    "account_takeover", "credential_stuffing", "impossible_travel", "anonymizer",
    "bulk_export", "plan_sharing", "scraper", "injection", "account_farm",
)


@dataclass(frozen=True)
class Floor:
    name: str  # e.g. `recall geo.anonymizer`, `alerted scraper`
    value: float | None  # None: nothing to judge it on (not held)
    limit: float
    at_least: bool  # True: value >= limit; False: value <= limit

    @property
    def passed(self) -> bool:
        if self.value is None:
            return True
        return self.value >= self.limit if self.at_least else self.value <= self.limit


def floors(judgement: Judgement) -> list[Floor]:
    out = []
    for code, score in judgement.codes.items():
        if score.positives:
            out.append(Floor(f"recall {code}", score.recall, MIN_RECALL, True))
        if score.positives or score.fp:  # firing where nothing is planted is judged too
            out.append(Floor(f"precision {code}", score.precision or 0.0, MIN_PRECISION, True))
    if judgement.benign is not None:
        out.append(Floor("benign high/critical", judgement.benign.share, MAX_BENIGN_SEVERE,
                         False))
    if judgement.travellers is not None:
        out.append(Floor("travellers high/critical", judgement.travellers.share,
                         MAX_TRAVELLERS_SEVERE, False))
    for kind in ALERTED_KINDS:
        score = judgement.incidents.get(kind)
        if score is not None:
            out.append(Floor(f"alerted {kind}", score.share.share, MIN_ALERTED, True))
    timers = judgement.timers
    out.append(Floor("overdue alerted", timers.overdue.share, 1.0, True))
    out.append(Floor("on-time called overdue", float(len(timers.on_time_called_overdue)),
                     0.0, False))
    return out
