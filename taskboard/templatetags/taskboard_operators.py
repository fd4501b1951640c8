"""Template filters of the operator pages (charts)."""

from __future__ import annotations

from datetime import timedelta

from django import template

from taskboard.templatetags.taskboard_table import duration

register = template.Library()


@register.filter
def seconds(value: float | None) -> str:
    """Return a number of seconds as a short duration (see ``duration``), or a dash."""
    if value is None:
        return "—"
    return duration(timedelta(seconds=value))
