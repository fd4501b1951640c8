"""Parameter forms of the maintenance tasks (export, purge), and a schedule's timing."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django_celery_beat.models import IntervalSchedule
from django_celery_beat.validators import (
    day_of_month_validator,
    day_of_week_validator,
    hour_validator,
    minute_validator,
    month_of_year_validator,
)

from taskboard.models import Status


class ExportForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    name = forms.CharField(max_length=100, required=False, help_text="Only tasks with this name.")
    days = forms.IntegerField(
        initial=30, min_value=1, max_value=3650, help_text="Tasks created in the last N days."
    )


class PurgeForm(forms.Form):
    days = forms.IntegerField(
        initial=90,
        min_value=1,
        max_value=36500,
        help_text="Delete finished tasks older than this many days.",
    )


class ScheduleForm(forms.Form):
    """When a schedule runs: every N minutes/hours/days, or a crontab in a time zone.

    Shown below a task's own parameter form (taskboard/launch/form.html); the
    parameters themselves are validated by that task's form, as for a launch.
    """

    INTERVAL = "interval"
    CRONTAB = "crontab"
    PERIODS = (
        (IntervalSchedule.MINUTES, "minutes"),
        (IntervalSchedule.HOURS, "hours"),
        (IntervalSchedule.DAYS, "days"),
    )

    kind = forms.ChoiceField(
        label="Repeat",
        choices=((INTERVAL, "Every N minutes, hours or days"), (CRONTAB, "On a crontab")),
        initial=INTERVAL,
        widget=forms.RadioSelect,
    )
    every = forms.IntegerField(
        label="Every", min_value=1, max_value=100000, initial=1, required=False
    )
    period = forms.ChoiceField(
        label="Period", choices=PERIODS, initial=IntervalSchedule.DAYS, required=False
    )
    minute = forms.CharField(
        label="Minute", max_length=240, initial="0", required=False, validators=[minute_validator]
    )
    hour = forms.CharField(
        label="Hour", max_length=96, initial="2", required=False, validators=[hour_validator]
    )
    day_of_month = forms.CharField(
        label="Day of month",
        max_length=124,
        initial="*",
        required=False,
        validators=[day_of_month_validator],
    )
    month_of_year = forms.CharField(
        label="Month",
        max_length=64,
        initial="*",
        required=False,
        validators=[month_of_year_validator],
    )
    day_of_week = forms.CharField(
        label="Day of week",
        max_length=64,
        initial="*",
        required=False,
        validators=[day_of_week_validator],
        help_text="0 or 7 is Sunday, 1 is Monday; * is every day.",
    )
    timezone = forms.CharField(
        label="Time zone",
        max_length=63,
        required=False,
        help_text="An IANA name such as Europe/Berlin; a crontab's times are read in it.",
    )

    def clean_timezone(self) -> str:
        name = self.cleaned_data.get("timezone") or settings.TIME_ZONE
        if name not in zoneinfo.available_timezones():
            raise forms.ValidationError(f"“{name}” is not a known time zone.")
        return name

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == self.INTERVAL:
            if not data.get("every"):
                self.add_error("every", "Say how often it runs.")
            if not data.get("period"):
                self.add_error("period", "Choose minutes, hours or days.")
        elif data.get("kind") == self.CRONTAB:
            for field in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"):
                if field not in self.errors and not data.get(field):
                    self.add_error(field, "Use * for every value.")
        return data
