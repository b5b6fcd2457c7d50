"""What a replay must show, kept beside a corpus of recorded incidents: counts per
reason code and per alert code (exact or a range), and named events that must or
must not fire. Checked after the replay; results as JSON or JUnit XML for CI."""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ottwatch.config_problems import from_validation, render
from ottwatch.vocabulary import LEVEL_RANK, LEVELS


class Count(BaseModel):
    """`{ events = 12 }` exactly, or `{ min = 1, max = 40 }` (either end may be left out)."""

    model_config = ConfigDict(extra="forbid")

    events: int | None = Field(None, ge=0)
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_form(self) -> Count:
        if self.events is not None and (self.min is not None or self.max is not None):
            raise ValueError("give events, or min and/or max, not both")
        if self.events is None and self.min is None and self.max is None:
            raise ValueError("give events, or min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, n: int) -> bool:
        if self.events is not None:
            return n == self.events
        return (self.min is None or n >= self.min) and (self.max is None or n <= self.max)

    def describe(self) -> str:
        if self.events is not None:
            return f"exactly {self.events}"
        if self.max is None:
            return f"at least {self.min}"
        if self.min is None:
            return f"at most {self.max}"
        return f"{self.min} to {self.max}"


class NamedEvent(BaseModel):
    """An event by id; with `code`, that code; with `level`, at least (must fire) or
    below (must not fire) that level."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1)
    code: str | None = None
    level: str | None = None
    why: str = ""  # shown with the result: the incident the line stands for

    @model_validator(mode="after")
    def _known_level(self) -> NamedEvent:
        if self.level is not None and self.level not in LEVEL_RANK:
            raise ValueError(f"level {self.level!r}: use one of {', '.join(LEVELS)}")
        return self


class Expectations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: dict[str, Count] = {}
    alerts: dict[str, Count] = {}
    must_fire: list[NamedEvent] = []
    must_not_fire: list[NamedEvent] = []

    @property
    def watched(self) -> set[str]:
        return {e.event_id for e in (*self.must_fire, *self.must_not_fire)}


class ExpectationsError(ValueError):
    """The file is not valid: one line per mistake, `file:line: [table] key: message`."""


def load_expectations(path: Path) -> Expectations:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Expectations.model_validate(data)
    except ValidationError as exc:
        lines = render(from_validation(exc, Expectations), str(path), text,
                       {"codes", "alerts", "must_fire", "must_not_fire"})
        raise ExpectationsError("\n".join(lines)) from None


@dataclass(frozen=True, slots=True)
class Seen:
    """What the replay did to one watched event: its level and codes (None: the event
    was never scored, e.g. quarantined or outside the window)."""

    level: str | None
    codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "message": self.message}


def check(expect: Expectations, codes: Mapping[str, int], alerts: Mapping[str, int],
          seen: Mapping[str, Seen]) -> list[Check]:
    """Every expectation, in the file's order, passed or not, with what was found."""
    results = []
    for kind, wanted, found in (("code", expect.codes, codes), ("alerts", expect.alerts, alerts)):
        for code, count in wanted.items():
            n = found.get(code, 0)
            results.append(Check(f"{kind} {code}", count.holds(n),
                                 f"{n} (expected {count.describe()})"))
    for named in expect.must_fire:
        results.append(_must_fire(named, seen.get(named.event_id)))
    for named in expect.must_not_fire:
        results.append(_must_not_fire(named, seen.get(named.event_id)))
    return results


def _label(named: NamedEvent, verb: str) -> str:
    what = " ".join(part for part in (named.code, named.level and f">= {named.level}") if part)
    return f"{named.event_id} {verb}" + (f" {what}" if what else "")


def _found(seen: Seen) -> str:
    return f"{seen.level}, codes: {', '.join(sorted(seen.codes)) or 'none'}"


def _must_fire(named: NamedEvent, seen: Seen | None) -> Check:
    name = _label(named, "fires")
    if seen is None or seen.level is None:
        return Check(name, False, "the event was not scored (not in the log or the window)")
    fired = (named.code is None or named.code in seen.codes) and \
        (named.level is None or LEVEL_RANK[seen.level] >= LEVEL_RANK[named.level])
    if named.code is None and named.level is None:
        fired = bool(seen.codes)
    return Check(name, fired, _found(seen))


def _must_not_fire(named: NamedEvent, seen: Seen | None) -> Check:
    name = _label(named, "does not fire")
    if seen is None or seen.level is None:
        return Check(name, False, "the event was not scored (not in the log or the window)")
    if named.code is not None:
        fired = named.code in seen.codes
    elif named.level is not None:
        fired = LEVEL_RANK[seen.level] >= LEVEL_RANK[named.level]
    else:
        fired = bool(seen.codes)
    return Check(name, not fired, _found(seen))


def to_json(results: list[Check]) -> dict[str, Any]:
    return {"passed": all(r.passed for r in results),
            "failures": sum(not r.passed for r in results),
            "checks": [r.to_dict() for r in results]}


def to_junit(results: list[Check], suite: str) -> bytes:
    """JUnit XML, as CI systems read test results: one testcase per expectation."""
    root = ET.Element("testsuites")
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                            failures=str(sum(not r.passed for r in results)), errors="0")
    for result in results:
        case = ET.SubElement(element, "testcase", classname=suite, name=result.name)
        if result.passed:
            ET.SubElement(case, "system-out").text = result.message
        else:
            ET.SubElement(case, "failure", message=result.message).text = result.message
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
