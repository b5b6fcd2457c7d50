"""`[reports]`: reports the agent writes on a schedule and sends through the alert
channels as an attachment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from ottwatch.durations import parse_duration
from ottwatch.learning.schedule import CronSchedule


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    schedule: str = ""  # cron, e.g. "0 6 * * 1" (Mondays 06:00); empty: no scheduled reports
    timezone: str = "UTC"  # the schedule's
    kinds: list[Literal["compliance", "models"]] = ["compliance"]
    format: Literal["html", "md", "json"] = "html"
    period: str = "7d"  # each report covers this much time up to when it runs
    folder: str = ""  # where they are written; empty: `reports/` beside the database
    send: bool = True  # through the alert channels, the file attached
    tags: list[str] = []  # only the channels with these route tags; empty: all of them

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value:
            CronSchedule.parse(value)
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("a report covers some time: use e.g. 1d, 7d or 30d")
        return value

    @property
    def period_s(self) -> float:
        return parse_duration(self.period)
