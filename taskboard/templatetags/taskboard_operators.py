"""Template filters of the operator pages (charts, ETA)."""

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


@register.filter
def eta(left: timedelta | None) -> str:
    """Return the expected time left briefly: about 20 s left, about 3 min left, almost done.

    Under a second reads "almost done", never "0 s" (see taskboard/eta.py).
    """
    if left is None:
        return ""
    seconds = left.total_seconds()
    if seconds < 1:
        return "almost done"
    if seconds < 60:
        return f"about {round(seconds)} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {round(seconds / 3600)} h left"
