"""Template tags of the task table: short arguments, durations, the poll token.

A row itself is the ordinary template partials/task_row.html.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django import template

from taskboard.live import Badge
from taskboard.models import Task

register = template.Library()

ARGS_MAX = 80


def poll_token(version: int, badge: Badge) -> str:
    """Return what a row shows, as a token that changes with its version or its live badge."""
    return f"{version}.{badge.key}"


def poll_token_version(token: str) -> str:
    """Return the version part of a ``poll_token``: when it moves, the row changed state."""
    return token.split(".", 1)[0]


@register.simple_tag
def poll_vals(ids: str, live: bool) -> str:
    """Return the poll element's hx-vals: its ids (and whether live state was down) as JSON.

    They go in the body of the poll's request, not its URL: see docs/architecture.md.
    Autoescaped where it is used, like any attribute value.
    """
    values = {"ids": ids}
    if not live:
        values["down"] = "1"
    return json.dumps(values, separators=(",", ":"))


@register.filter(name="poll_token")
def poll_token_filter(task: Task, badge: Badge) -> str:
    """Return the row's poll token (see ``poll_token``)."""
    return poll_token(task.version, badge)


@register.filter
def short_args(task: Task) -> str:
    """Return the task's arguments as one short line: ``1, 2, x=2, y=3``."""
    parts = [_short(value) for value in task.args or []] if isinstance(task.args, list) else []
    if isinstance(task.kwargs, dict):
        parts += [f"{key}={_short(value)}" for key, value in task.kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= ARGS_MAX else text[: ARGS_MAX - 1] + "…"


def _short(value) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 30 else repr(value[:29] + "…")
    if isinstance(value, (dict, list)):
        return "{…}" if isinstance(value, dict) else "[…]"
    return str(value)


@register.filter
def duration(value: timedelta | None) -> str:
    """Return a duration as a short reading: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min."""
    if value is None:
        return ""
    seconds = max(value.total_seconds(), 0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
