"""Cron schedules ("0 2 * * *": daily at 02:00) for retraining, read by `cronsim`.

Five fields: minute, hour, day of month, month, day of week, with cron's ranges,
steps, lists and names, and crontab(5)'s rule for the two day fields: a day matching
either counts only when both are restricted; when one starts with `*`, both must
match (`0 2 */2 * 1` is Mondays with an odd date). `@hourly`, `@daily`, `@weekly`,
`@monthly` are shorthands. Times are taken in the schedule's time zone, with cronsim's
handling of daylight-saving gaps and repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}
_CHECK_FROM = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))


class CronError(ValueError):
    """A schedule that does not parse; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    text: str
    expression: str

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        expression = ALIASES.get(text.strip().lower(), text.strip())
        try:
            next(CronSim(expression, _CHECK_FROM))
        except (CronSimError, StopIteration) as error:
            raise CronError(f"{text!r}: {str(error) or 'matches no time'} "
                            "(five fields: minute hour day month weekday)") from None
        return cls(text=text, expression=expression)

    def next_after(self, ts: float, zone: str = "UTC") -> float:
        """The first matching minute strictly after `ts` (epoch seconds), in `zone`."""
        start = datetime.fromtimestamp(ts, ZoneInfo(zone))
        try:
            return next(CronSim(self.expression, start)).timestamp()
        except StopIteration:
            raise CronError(f"{self.text!r} matches no later time") from None
