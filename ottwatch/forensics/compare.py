"""What-if: the same events scored by two configs, A (in effect) and B (proposed).
Per reason code, the events B adds and removes; per level, the events that move;
per alert kind, the alerts B opens that A does not and the other way round; each
with a few example events to look at."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ottwatch.pipeline import Assessment
from ottwatch.vocabulary import LEVEL_RANK

EXAMPLES = 5


@dataclass(slots=True)
class Delta:
    """One code's or alert kind's difference: how many in A, in B, added, removed, and
    example ids of each."""

    a: int = 0
    b: int = 0
    added: int = 0
    removed: int = 0
    added_examples: list[str] = field(default_factory=list)
    removed_examples: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.added += 1
        if len(self.added_examples) < EXAMPLES:
            self.added_examples.append(key)

    def remove(self, key: str) -> None:
        self.removed += 1
        if len(self.removed_examples) < EXAMPLES:
            self.removed_examples.append(key)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "added": self.added, "removed": self.removed,
                "added_examples": self.added_examples,
                "removed_examples": self.removed_examples}


@dataclass(slots=True)
class Comparison:
    events: int = 0
    codes: dict[str, Delta] = field(default_factory=dict)
    levels: Counter[tuple[str, str]] = field(default_factory=Counter)  # (A, B) -> events
    level_examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    alerts: dict[str, Delta] = field(default_factory=dict)
    _alerts_a: dict[str, str] = field(default_factory=dict)  # group key -> first code
    _alerts_b: dict[str, str] = field(default_factory=dict)

    def observe(self, a: Iterable[Assessment], b: Mapping[str, Assessment]) -> None:
        """`a`: the assessments A stored; `b`: B's of the same batch, by event id."""
        for first in a:
            second = b.get(first.event_id)
            if second is None:
                continue
            self.events += 1
            codes_a = {r.code for r in first.reasons}
            codes_b = {r.code for r in second.reasons}
            for code in codes_a | codes_b:
                delta = self.codes.get(code) or self.codes.setdefault(code, Delta())
                delta.a += code in codes_a
                delta.b += code in codes_b
                if code in codes_b and code not in codes_a:
                    delta.add(first.event_id)
                elif code in codes_a and code not in codes_b:
                    delta.remove(first.event_id)
            if first.level != second.level:
                move = (first.level, second.level)
                self.levels[move] += 1
                examples = self.level_examples.setdefault(move, [])
                if len(examples) < EXAMPLES:
                    examples.append(first.event_id)

    def observe_alerts(self, a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]
                       ) -> None:
        """Alert rows each config raised (upserts): an alert is its group key, its kind
        the first code it was raised on."""
        for rows, seen in ((a, self._alerts_a), (b, self._alerts_b)):
            for row in rows:
                seen.setdefault(str(row["group_key"]), (row.get("codes") or ["?"])[0])

    def finish(self) -> None:
        """Settle the alert deltas (an alert counts once, whenever it was raised)."""
        self.alerts = {}
        for key in sorted(self._alerts_a.keys() | self._alerts_b.keys()):
            kind = self._alerts_b.get(key) or self._alerts_a[key]
            delta = self.alerts.get(kind) or self.alerts.setdefault(kind, Delta())
            delta.a += key in self._alerts_a
            delta.b += key in self._alerts_b
            if key not in self._alerts_a:
                delta.add(key)
            elif key not in self._alerts_b:
                delta.remove(key)

    @property
    def same(self) -> bool:
        return not (self.levels or any(d.changed for d in (*self.codes.values(),
                                                              *self.alerts.values())))

    def to_dict(self) -> dict[str, Any]:
        def ordered(deltas: dict[str, Delta]) -> dict[str, Any]:
            return {k: d.to_dict() for k, d in sorted(deltas.items(), key=lambda kv: (
                -(kv[1].added + kv[1].removed), kv[0]))}

        return {"events": self.events, "same": self.same, "codes": ordered(self.codes),
                "levels": [{"a": a, "b": b, "events": n, "examples": self.level_examples[(a, b)]}
                           for (a, b), n in sorted(self.levels.items(), key=lambda kv: (
                               LEVEL_RANK[kv[0][0]], LEVEL_RANK[kv[0][1]]))],
                "alerts": ordered(self.alerts)}
