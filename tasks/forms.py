"""Parameter forms of the built-in launchable tasks."""

from __future__ import annotations

from django import forms

from tasks.models import Status


class QuickForm(forms.Form):
    x = forms.IntegerField(initial=2, min_value=-1_000_000, max_value=1_000_000)
    y = forms.IntegerField(initial=3, min_value=-1_000_000, max_value=1_000_000)


class LongForm(forms.Form):
    seconds = forms.IntegerField(
        initial=10, min_value=1, max_value=3600, help_text="How long to run, in seconds."
    )
    steps = forms.IntegerField(
        initial=10, min_value=1, max_value=1000, help_text="How many progress updates."
    )


class FailForm(forms.Form):
    message = forms.CharField(
        initial="Something went wrong on purpose", max_length=500, required=False
    )


class FlakyForm(forms.Form):
    failures = forms.IntegerField(
        initial=2, min_value=0, max_value=5, help_text="How many attempts fail before one succeeds."
    )


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
