"""Parameter forms of the demo tasks."""

from __future__ import annotations

from django import forms


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


class PagesForm(forms.Form):
    pages = forms.IntegerField(
        initial=5, min_value=1, max_value=400, help_text="How many pages to fetch, side by side."
    )
    seconds = forms.FloatField(
        initial=2, min_value=0, max_value=60, help_text="How long each page takes, in seconds."
    )
    fail_page = forms.IntegerField(
        initial=0,
        min_value=0,
        max_value=400,
        required=False,
        help_text="The page whose fetch fails (0: none); its retry succeeds.",
    )


class ChattyForm(forms.Form):
    lines = forms.IntegerField(
        initial=10, min_value=1, max_value=10_000, help_text="How many lines to log."
    )
    interval = forms.FloatField(
        initial=0.5, min_value=0, max_value=60, help_text="Seconds between two lines."
    )
    message = forms.CharField(
        initial="working", max_length=500, required=False, help_text="What each line says."
    )
    fail_after = forms.IntegerField(
        initial=0,
        min_value=0,
        max_value=10_000,
        required=False,
        help_text="Fail after this many lines (0: never).",
    )
