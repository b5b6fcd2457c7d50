"""Cron-like schedules ("0 2 * * *": daily at 02:00) for retraining.

Five fields: minute, hour, day of month, month, day of week (0 or 7 = Sunday);
each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
those; months and weekdays also by name (`jan`, `mon`). As in cron, when both
day of month and day of week are restricted, a day matching either counts.
`@hourly`, `@daily`, `@weekly`, `@monthly` are shorthands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}
MONTHS = {name: n for n, name in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
WEEKDAYS = {name: n for n, name in enumerate("sun mon tue wed thu fri sat".split())}
SEARCH_DAYS = 366 * 5  # 29 February on a Monday can be years away


class CronError(ValueError):
    """A schedule that does not parse; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        expanded = ALIASES.get(text.strip().lower(), text)
        fields = expanded.split()
        if len(fields) != 5:
            raise CronError(f"{text!r}: expected 5 fields (minute hour day month weekday), "
                            f"got {len(fields)}")
        minute, hour, day, month, weekday = fields
        weekdays = frozenset(d % 7 for d in _field(weekday, 0, 7, WEEKDAYS, "weekday"))
        return cls(text=text, minutes=_field(minute, 0, 59, {}, "minute"),
                   hours=_field(hour, 0, 23, {}, "hour"), days=_field(day, 1, 31, {}, "day"),
                   months=_field(month, 1, 12, MONTHS, "month"), weekdays=weekdays,
                   any_day=day == "*", any_weekday=weekday == "*")

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def next_after(self, ts: float, zone: str = "UTC") -> float:
        """The first matching minute strictly after `ts` (epoch seconds), in `zone`."""
        tz = ZoneInfo(zone)
        start = datetime.fromtimestamp(ts, tz).replace(second=0, microsecond=0, tzinfo=None)
        start += timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for offset in range(SEARCH_DAYS):
            day = start.date() + timedelta(days=offset)
            if not self._day_matches(day):
                continue
            first = start.time() if offset == 0 else time(0, 0)
            for hour in hours:
                if hour < first.hour:
                    continue
                for minute in minutes:
                    if hour == first.hour and minute < first.minute:
                        continue
                    moment = datetime.combine(day, time(hour, minute), tz).timestamp()
                    if moment > ts:
                        return moment
        raise CronError(f"{self.text!r} matches no time in the next {SEARCH_DAYS} days")


def _field(text: str, low: int, high: int, names: dict[str, int], what: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = _number(step_text, names, what) if step_text else 1
        if step < 1:
            raise CronError(f"{what}: step must be at least 1 in {part!r}")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _number(a, names, what), _number(b, names, what)
        else:
            first = _number(body, names, what)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise CronError(f"{what}: {part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, names: dict[str, int], what: str) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{what}: {text!r} is not a number")
    return int(text)
