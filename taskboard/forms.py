"""Parameter forms of the maintenance tasks, a schedule's timing and a launch's time."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule
from django_celery_beat.validators import (
    day_of_month_validator,
    day_of_week_validator,
    hour_validator,
    minute_validator,
    month_of_year_validator,
)

from taskboard import selectors, webhooks
from taskboard.conf import app_settings
from taskboard.models import Status, Webhook
from taskboard.timing import CRONTAB_FIELDS


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
            for field in CRONTAB_FIELDS:
                if field not in self.errors and not data.get(field):
                    self.add_error(field, "Use * for every value.")
        return data


def run_at_error(run_at: datetime, now: datetime | None = None) -> str:
    """Return why a launch may not be held back until ``run_at``, or "" if it may."""
    now = now or timezone.now()
    if run_at <= now:
        return "Choose a time in the future."
    days = app_settings.LAUNCH_LATER_MAX_DAYS
    if run_at > now + timedelta(days=days):
        return f"Choose a time at most {days} days ahead."
    return ""


class LaunchLaterForm(forms.Form):
    """When a launch is sent: now, at a date and time, or in N minutes or hours.

    Shown below a task's own parameter form, with the prefix ``later`` so that its
    fields never meet a task parameter of the same name. ``cleaned_data["run_at"]``
    is None for now, else the aware time to send it (docs/architecture.md,
    "Launch later").
    """

    NOW, AT, IN = "now", "at", "in"
    UNITS = (("minutes", "minutes"), ("hours", "hours"))

    when = forms.ChoiceField(
        label="When",
        choices=((NOW, "Now"), (AT, "At a date and time"), (IN, "In N minutes or hours")),
        initial=NOW,
        required=False,
        widget=forms.RadioSelect,
    )
    at = forms.DateTimeField(
        label="At",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    amount = forms.IntegerField(label="In", min_value=1, max_value=100000, required=False)
    unit = forms.ChoiceField(label="Unit", choices=UNITS, initial="minutes", required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "later")
        super().__init__(*args, **kwargs)
        # A datetime-local input carries no zone: it is read in the current one.
        self.fields["at"].help_text = f"Time zone {timezone.get_current_timezone_name()}."

    def clean(self) -> dict:
        data = super().clean()
        when = data.get("when") or self.NOW
        run_at = None
        if when == self.AT:
            run_at = data.get("at")
            if run_at is None and "at" not in self.errors:
                self.add_error("at", "Choose the date and time to launch it.")
        elif when == self.IN:
            amount = data.get("amount")
            if amount is None and "amount" not in self.errors:
                self.add_error("amount", "Say in how many minutes or hours.")
            elif amount is not None:
                run_at = timezone.now() + timedelta(**{data.get("unit") or "minutes": amount})
        if run_at is not None and (error := run_at_error(run_at)):
            self.add_error("at" if when == self.AT else "amount", error)
            run_at = None
        data["run_at"] = run_at
        return data


# --- notifications (taskboard/views/notify.py) ---------------------------------


class NameForm(forms.Form):
    task_name = forms.CharField(
        max_length=100,
        label="Task name",
        widget=forms.TextInput(attrs={"list": "task-names"}),
        help_text="Its failures are emailed to you, one message per kind of failure per window.",
    )


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(
        max_length=500,
        label="URL",
        assume_scheme="https",
        help_text="http or https, to a public address (docs/operations.md says which are refused).",
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhooks.check_url(url)
        except webhooks.UnsafeURL as exc:
            raise ValidationError(str(exc)) from exc
        return url


class RouteForm(forms.Form):
    task_name = forms.CharField(
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"list": "task-names"}),
        help_text="Empty: failures of any task.",
    )
    emails = forms.CharField(
        required=False,
        label="Email addresses",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line. Or choose a webhook.",
    )
    webhook = forms.ModelChoiceField(queryset=Webhook.objects.none(), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["webhook"].queryset = selectors.webhook_list()

    def clean_emails(self) -> list[str]:
        addresses = [line.strip() for line in self.cleaned_data["emails"].splitlines()]
        addresses = [address for address in addresses if address]
        for address in addresses:
            validate_email(address)
        return addresses

    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("emails")) == bool(data.get("webhook")):
            raise ValidationError("Give email addresses or a webhook (one of the two).")
        return data
