"""When a schedule runs, as django-celery-beat stores it, and the same in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cron_descriptor import (
    FormatException,
    MissingFieldException,
    Options,
    WrongArgumentException,
    get_description,
)
from django_celery_beat.models import IntervalSchedule, PeriodicTask

CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


@dataclass(frozen=True)
class Timing:
    """When a schedule runs: ``every`` ``period`` (an interval), or a crontab in ``timezone``."""

    every: int = 0
    period: str = ""
    crontab: tuple[str, str, str, str, str] | None = None
    timezone: str = "UTC"

    @classmethod
    def from_form(cls, data: Mapping[str, Any]) -> Timing:
        """Build the timing from a valid ScheduleForm's cleaned data."""
        if data["kind"] == "crontab":
            crontab = tuple(str(data[field]) for field in CRONTAB_FIELDS)
            return cls(crontab=crontab, timezone=data["timezone"])  # type: ignore[arg-type]
        return cls(every=data["every"], period=data["period"], timezone=data["timezone"])

    @classmethod
    def of(cls, periodic: PeriodicTask) -> Timing:
        """Return the timing a periodic task runs on (to fill the edit form)."""
        if periodic.crontab is not None:
            cron = periodic.crontab
            values = tuple(getattr(cron, field) for field in CRONTAB_FIELDS)
            return cls(crontab=values, timezone=str(cron.timezone))  # type: ignore[arg-type]
        interval = periodic.interval
        return cls(every=interval.every, period=interval.period)

    def form_initial(self) -> dict[str, Any]:
        """Return this timing as the ScheduleForm's initial data."""
        if self.crontab is not None:
            return {"kind": "crontab", "timezone": self.timezone} | dict(
                zip(CRONTAB_FIELDS, self.crontab, strict=True)
            )
        return {"kind": "interval", "every": self.every, "period": self.period}


def describe_timing(timing: Timing) -> str:
    """Say when ``timing`` runs, in words: "every 10 minutes", "At 02:00 (Europe/Berlin)"."""
    if timing.crontab is not None:
        options = Options()
        options.use_24hour_time_format = True
        try:
            words = get_description(" ".join(timing.crontab), options)
        except (FormatException, MissingFieldException, WrongArgumentException):
            words = " ".join(timing.crontab)
        return f"{words} ({timing.timezone})"
    return str(IntervalSchedule(every=timing.every, period=timing.period))
