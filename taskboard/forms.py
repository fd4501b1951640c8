"""Parameter forms of the maintenance tasks every installation has (export, purge)."""

from __future__ import annotations

from django import forms

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
