"""What a scenario says should happen: per reason code, the events it should fire on
(positive), must not fire on (negative) and is not judged on (don't care); the
incidents the alerts should find; the data-subject requests and their deadlines.

Logs not made by the realistic generator carry their labels in `LOG.labels.jsonl`,
one object a line (docs/evaluation.md):

- `{"event_id": "...", "expect": [codes], "forbid": [codes]}`: expect = positive,
  forbid = negative, every other event and code don't care;
- `{"incident": "ID", "kind": "...", "users": [...], "ips": [...], "event_ids": [...]}`:
  something the alerts should find (`account_farm` incidents are also judged as rings);
- `{"request": "ID", "kind": "dsar"|"deletion", "user_id": "...", "overdue": bool}`:
  a data-subject request that must (true) or must never (false) be called overdue."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# The codes judged per event, in report order.
JUDGED_CODES = (
    "input.attack_pattern", "geo.anonymizer", "geo.claimed_region_mismatch",
    "geo.impossible_travel", "auth.failure_burst", "account.takeover_pattern",
    "stream.concurrency_exceeded", "data.bulk_export", "velocity.access_spike",
    "consent.missing", "regulation.dsar_overdue", "regulation.deletion_overdue",
    "ring.member",
)
# Codes with no planted truth per event: only how often they fired is reported.
UNJUDGED_CODES = (
    "anomaly.model", "prediction.violation_likely", "regulation.breach_notification_late",
    "regulation.deadline_near",
)
LABELS_SUFFIX = ".labels.jsonl"
FARM_KIND = "account_farm"
REQUEST_KINDS = ("dsar", "deletion")
TRUTH_SUFFIX = ".truth.json"


class LabelFileError(ValueError):
    """A labels file that does not follow the format; the message says where."""


@dataclass
class CodeLabels:
    positive: set[str] = field(default_factory=set)
    dont_care: set[str] = field(default_factory=set)
    # None: every other event of the scenario is a negative (the realistic oracle);
    # a set: only these are (a labels file names its negatives).
    negative: set[str] | None = None

    def negatives(self, events: set[str]) -> set[str]:
        if self.negative is not None:
            return self.negative
        return events - self.positive - self.dont_care


@dataclass(frozen=True)
class Target:
    """Something the alerts should find: an incident (or a kind derived from one, such
    as a takeover from far away), with its events, the users and addresses an alert
    may name, and its time span (None: unknown, any time counts)."""

    kind: str
    target_id: str
    event_ids: frozenset[str]
    users: frozenset[str] = frozenset()
    ips: frozenset[str] = frozenset()
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class RequestLabel:
    """A data-subject request, its deadline under the regulation table (None when no
    regulation gives it one) and when it was fulfilled (None: not within the log)."""

    request_id: str
    kind: str  # "dsar" or "deletion"
    user_id: str
    opened: float
    fulfilled: float | None
    deadline: float | None = None
    warn_at: float | None = None
    regulation: str | None = None

    # A labels file says outright whether the request is overdue (None: work it out).
    expected_overdue: bool | None = None

    def overdue(self, end: float | None) -> bool:
        """Its deadline passed before its fulfilment, or before `end` while unfulfilled."""
        if self.expected_overdue is not None:
            return self.expected_overdue
        if self.deadline is None or end is None:
            return False
        if self.fulfilled is None:
            return self.deadline <= end
        return self.fulfilled > self.deadline

    def on_time(self, end: float | None) -> bool:
        """Fulfilled by its deadline (or, from a labels file, never to be called overdue)."""
        if self.expected_overdue is not None:
            return not self.expected_overdue
        return self.fulfilled is not None and not self.overdue(end)


@dataclass
class ScenarioLabels:
    name: str
    kind: str  # "realistic" or "generic"
    events: set[str]  # every event the labels speak of
    codes: dict[str, CodeLabels]
    targets: list[Target] = field(default_factory=list)
    farms: list[Target] = field(default_factory=list)
    requests: list[RequestLabel] = field(default_factory=list)
    benign: set[str] | None = None  # events that belong to no incident
    travellers: set[str] | None = None  # honest travellers' events
    # benign events per kind of look-alike group the user is in (household, carrier_nat,
    # pool_reuse, vpn_users, new_accounts, ...: the truth's benign groups)
    look_alikes: dict[str, set[str]] = field(default_factory=dict)
    bad_lines: int | None = None  # malformed lines the log holds, when known
    end_ts: float | None = None  # the last event's time


def labels_path(log: str | Path) -> Path:
    return Path(f"{log}{LABELS_SUFFIX}")


def truth_path(log: str | Path) -> Path:
    return Path(f"{log}{TRUTH_SUFFIX}")


def write_label_file(path: str | Path,
                     rows: Iterable[tuple[str, Iterable[str], Iterable[str]]],
                     extra: Iterable[dict[str, Any]] = ()) -> int:
    """Write `(event_id, expect, forbid)` rows, then incident and request lines
    (`extra`), as a labels file readable by its owner only; returns the lines written."""
    count = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as out:
        for event_id, expect, forbid in rows:
            out.write(orjson.dumps({"event_id": event_id, "expect": sorted(expect),
                                    "forbid": sorted(forbid)}) + b"\n")
            count += 1
        for line in extra:
            out.write(orjson.dumps(line) + b"\n")
            count += 1
    return count


def _codes(row: dict[str, Any], key: str, where: str) -> set[str]:
    return set(_strings(row, key, where))


def _strings(row: dict[str, Any], key: str, where: str) -> list[str]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise LabelFileError(f"{where}: {key!r} must be a list of non-empty strings")
    return value


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value:
        raise LabelFileError(f"{where}: {key!r} must be a non-empty string")
    return value


class _LabelFile:
    def __init__(self) -> None:
        self.codes: dict[str, CodeLabels] = {}
        self.events: set[str] = set()
        self.targets: list[Target] = []
        self.farms: list[Target] = []
        self.requests: list[RequestLabel] = []

    def add(self, row: dict[str, Any], where: str) -> None:
        if "event_id" in row:
            self._event(row, where)
        elif "incident" in row:
            self._incident(row, where)
        elif "request" in row:
            self._request(row, where)
        else:
            raise LabelFileError(f"{where}: expected an event_id, incident or request line")

    def _event(self, row: dict[str, Any], where: str) -> None:
        event_id = _text(row, "event_id", where)
        expect, forbid = _codes(row, "expect", where), _codes(row, "forbid", where)
        if both := expect & forbid:
            raise LabelFileError(f"{where}: {', '.join(sorted(both))} both expected "
                                 "and forbidden")
        if event_id in self.events:
            raise LabelFileError(f"{where}: event {event_id} labelled twice")
        self.events.add(event_id)
        for code in expect:
            self.codes.setdefault(code, CodeLabels(negative=set())).positive.add(event_id)
        for code in forbid:
            labels = self.codes.setdefault(code, CodeLabels(negative=set()))
            assert labels.negative is not None
            labels.negative.add(event_id)

    def _incident(self, row: dict[str, Any], where: str) -> None:
        target = Target(_text(row, "kind", where), _text(row, "incident", where),
                        frozenset(_strings(row, "event_ids", where)),
                        frozenset(_strings(row, "users", where)),
                        frozenset(_strings(row, "ips", where)))
        if not target.users and not target.ips:
            raise LabelFileError(f"{where}: an incident needs users or ips an alert can name")
        self.targets.append(target)
        if target.kind == FARM_KIND:
            self.farms.append(target)

    def _request(self, row: dict[str, Any], where: str) -> None:
        kind = _text(row, "kind", where)
        if kind not in REQUEST_KINDS:
            raise LabelFileError(f"{where}: a request's kind is one of {', '.join(REQUEST_KINDS)}")
        overdue = row.get("overdue")
        if not isinstance(overdue, bool):
            raise LabelFileError(f"{where}: 'overdue' must be true or false")
        self.requests.append(RequestLabel(_text(row, "request", where), kind,
                                          _text(row, "user_id", where), opened=0.0,
                                          fulfilled=None, expected_overdue=overdue))


def read_label_file(path: str | Path, name: str | None = None) -> ScenarioLabels:
    """A labels file as `ScenarioLabels` (negatives named, everything else don't care)."""
    found = _LabelFile()
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise LabelFileError(f"{where}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise LabelFileError(f"{where}: expected a JSON object")
            found.add(row, where)
    return ScenarioLabels(name=name or Path(path).name.removesuffix(LABELS_SUFFIX),
                          kind="generic", events=found.events, codes=found.codes,
                          targets=found.targets, farms=found.farms, requests=found.requests)
