"""Per reason code: positives, how often it fired, true and false positives, misses,
recall and precision; and how many benign events (and honest travellers' events)
were assessed high or critical."""

from __future__ import annotations

from dataclasses import dataclass

from ottwatch.evaluation.labels import UNJUDGED_CODES, ScenarioLabels
from ottwatch.evaluation.results import Results


@dataclass(frozen=True)
class CodeScore:
    code: str
    positives: int
    fired: int  # on any event of the scenario (positive, negative or don't care)
    tp: int
    fp: int
    fn: int

    @property
    def recall(self) -> float | None:
        return self.tp / self.positives if self.positives else None

    @property
    def precision(self) -> float | None:
        judged = self.tp + self.fp
        return self.tp / judged if judged else None

    def add(self, other: CodeScore) -> CodeScore:
        return CodeScore(self.code, self.positives + other.positives, self.fired + other.fired,
                         self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


@dataclass(frozen=True)
class Share:
    count: int
    of: int

    @property
    def share(self) -> float | None:
        return self.count / self.of if self.of else None

    def add(self, other: Share) -> Share:
        return Share(self.count + other.count, self.of + other.of)


def code_scores(labels: ScenarioLabels, results: Results) -> list[CodeScore]:
    """The judged codes of the labels, then the unjudged ones that fired (counts only)."""
    events = labels.events
    out = []
    for code, judged in labels.codes.items():
        fired = results.fired.get(code, set()) & events
        positive = judged.positive
        tp = len(fired & positive)
        out.append(CodeScore(code, len(positive), len(fired), tp,
                             len(fired & judged.negatives(events)), len(positive) - tp))
    for code in UNJUDGED_CODES:
        if code not in labels.codes and (fired := results.fired.get(code, set()) & events):
            out.append(CodeScore(code, 0, len(fired), 0, 0, 0))
    return out


def severe_share(events: set[str] | None, results: Results) -> Share | None:
    """How many of `events` were assessed high or critical (None: the labels do not say
    which events are benign)."""
    if events is None:
        return None
    return Share(len(events & results.severe), len(events))
